//! RTMP chunk stream (Adobe RTMP specification 1.0, December 2012, §5.3): the decoder that
//! reassembles messages from interleaved chunks, and a stateless encoder.
//!
//! A chunk is a basic header (§5.3.1.1, 1–3 bytes: `fmt` and chunk stream id), a message header
//! (§5.3.1.2, 11/7/3/0 bytes for `fmt` 0/1/2/3), an optional 4-byte extended timestamp
//! (§5.3.1.3) and at most `chunk size` bytes of message payload.
//!
//! Pure code: bytes in, messages out; no I/O, no clock. The decoder takes its input as it
//! comes (a read may end anywhere, in a header or a payload) and copies each payload byte once,
//! into the buffer of the message it belongs to, which becomes the message's `Bytes`.
//!
//! Compatibility decisions, each matching what SRS does:
//! - Set Chunk Size is accepted in [`MIN_CHUNK_SIZE`]`..=`[`MAX_CHUNK_SIZE`]. SRS refuses sizes
//!   below 128 (ossrs/srs#541) although ffmpeg takes any size from 1; SRS takes sizes above
//!   65536 with a warning (ossrs/srs#160: Flussonic, vdk-based tools send 128 MiB), we refuse
//!   them: no encoder we know of needs them, and refusing keeps what the session accepts
//!   unchanged from when the decoder held whole chunks.
//! - A chunk stream may start with `fmt` 1: librtmp sends its pings and acknowledgements that
//!   way on a fresh csid 2. The message stream id is then 0 and the timestamp delta counts
//!   from 0. `fmt` 2 or 3 on a fresh chunk stream is an error.
//! - `fmt` 3 starting a new message re-applies the last timestamp delta; after a `fmt` 0 chunk
//!   the "delta" is that chunk's timestamp (so it doubles), as ffmpeg and SRS compute it.
//! - `fmt` 1 or 2 in the middle of a message continues it (the length must not change) and
//!   only records the new delta for later messages; `fmt` 0 in the middle is an error.
//! - Extended timestamps in `fmt` 3 continuation chunks: see [`ChunkDecoder`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::wire::cursor::{array_at, put_u24, u24_at, u32_at};
use crate::wire::rtmp::message::{Message, MessageHeader, MessageType};

/// Smallest chunk size a peer may set (SRS's `SRS_CONSTS_RTMP_MIN_CHUNK_SIZE`; §5.4.1 allows 1).
pub const MIN_CHUNK_SIZE: u32 = 128;
/// Largest chunk size a peer may set (see the module documentation).
pub const MAX_CHUNK_SIZE: u32 = 65536;
/// Chunk size in force before any Set Chunk Size (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Smallest chunk stream id; 0 and 1 select the 2- and 3-byte basic headers (§5.3.1.1).
pub const MIN_CSID: u32 = 2;
/// Largest chunk stream id: 3-byte basic header, 65535 + 64 (§5.3.1.1).
pub const MAX_CSID: u32 = 65599;
/// Largest message length the 24-bit length field can carry (§5.3.1.2.1).
pub const MAX_MESSAGE_LEN: u32 = 0xFF_FFFF;
/// Longest chunk header: 3-byte basic header + 11-byte message header + 4-byte extended
/// timestamp.
pub const MAX_CHUNK_HEADER_LEN: usize = 3 + 11 + 4;
/// A message's payload buffer is allocated at its declared length up to this size (every
/// message of a 1 Mbit/s camera, keyframes included, then needs one allocation and no copy
/// beyond the one from the read buffer). A longer message starts with this much and doubles,
/// never past its declared length: a length read off the wire alone makes the decoder allocate
/// at most 64 KiB; more takes the peer sending the bytes.
pub const PREALLOCATE_MAX: usize = 64 * 1024;

/// A 24-bit timestamp (delta) field of 0xFFFFFF says an extended timestamp follows (§5.3.1.3).
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Length of the extended timestamp field (§5.3.1.3).
const EXTENDED_TIMESTAMP_LEN: usize = 4;
/// Basic header: csid values 0 and 1 in the low 6 bits select the longer forms (§5.3.1.1).
const CSID_MASK: u8 = 0x3F;
const CSID_TWO_BYTE: u8 = 0;
const CSID_THREE_BYTE: u8 = 1;
/// Offset added to the csid byte(s) of the 2- and 3-byte forms.
const CSID_LONG_BASE: u32 = 64;
/// Largest csid of the 2-byte form (64 + 255).
const CSID_TWO_BYTE_MAX: u32 = 319;
/// Chunk header formats, the top two bits of the basic header (§5.3.1.2).
const FMT_SHIFT: u8 = 6;
const FMT0: u8 = 0;
const FMT1: u8 = 1;
const FMT2: u8 = 2;
const FMT3: u8 = 3;
/// Message header field offsets (§5.3.1.2.1–§5.3.1.2.3).
const MH_TIMESTAMP: usize = 0;
const MH_LENGTH: usize = 3;
const MH_TYPE_ID: usize = 6;
const MH_STREAM_ID: usize = 7;
const FMT0_HEADER_LEN: usize = 11;
const FMT1_HEADER_LEN: usize = 7;
const FMT2_HEADER_LEN: usize = 3;

/// Caps on what a peer can make the decoder hold.
///
/// Worst-case RAM per connection: `max_pending_bytes` of partial payload (buffers never grow
/// past the declared length of their message, and the sum of declared lengths of unfinished
/// messages is capped), plus `max_chunk_streams` × ~100 bytes of per-stream header state and
/// the [`MAX_CHUNK_HEADER_LEN`] bytes of a header cut by the end of a read. Completed messages
/// are handed over and no longer counted here.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Longest message accepted. 8 MiB holds a 4K keyframe at a high bitrate; the wire allows
    /// 16 MiB − 1.
    pub max_message_len: u32,
    /// Distinct chunk stream ids per connection. Encoders use 3–8 (control, command, audio,
    /// video, data); 64 leaves room for odd ones while bounding the header state.
    pub max_chunk_streams: usize,
    /// Sum of the declared lengths of all partly received messages, across chunk streams.
    /// 16 MiB = two maximum-length messages in flight at once.
    pub max_pending_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_message_len: 8 * 1024 * 1024,
            max_chunk_streams: 64,
            max_pending_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Chunk stream errors. All are connection-fatal: after any of them the chunk framing can no
/// longer be trusted. `offset` is the position of the offending chunk's first byte in the
/// connection's chunk stream (the decoder's [`ChunkDecoder::bytes_received`] at that chunk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("csid {csid} at offset {offset}: message length {len} exceeds the limit {max}")]
    MessageTooLong {
        csid: u32,
        len: u32,
        max: u32,
        offset: u64,
    },
    #[error("csid {csid} at offset {offset}: more than {max} chunk streams")]
    TooManyChunkStreams { csid: u32, max: usize, offset: u64 },
    #[error(
        "csid {csid} at offset {offset}: a {len}-byte message would raise partly received \
         messages to more than {max} bytes ({pending} pending)"
    )]
    PendingTooLarge {
        csid: u32,
        len: u32,
        pending: usize,
        max: usize,
        offset: u64,
    },
    #[error("chunk size {0} outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}")]
    BadChunkSize(u32),
    #[error("csid {csid} at offset {offset}: fmt {fmt} chunk with no previous header")]
    NoPreviousHeader { csid: u32, fmt: u8, offset: u64 },
    #[error("csid {csid} at offset {offset}: fmt 0 chunk while a message is incomplete")]
    Fmt0MidMessage { csid: u32, offset: u64 },
    #[error(
        "csid {csid} at offset {offset}: fmt 1 chunk changes the length of an incomplete \
         message from {expected} to {len}"
    )]
    LengthChangedMidMessage {
        csid: u32,
        len: u32,
        expected: u32,
        offset: u64,
    },
}

/// A message being reassembled on one chunk stream.
#[derive(Debug)]
struct Partial {
    header: MessageHeader,
    /// Declared length; counted in `ChunkDecoder::pending` until the message completes.
    length: u32,
    /// Allocated at `length` (up to [`PREALLOCATE_MAX`]), grows as chunks arrive, never past
    /// `length`: a complete payload becomes the message's `Bytes` without a copy.
    payload: Vec<u8>,
}

/// State of one chunk stream (§5.3.1.2): the fields later chunks inherit, and the message
/// being reassembled.
///
/// Transitions: created by a `fmt` 0 or 1 chunk; a chunk that starts a message sets `partial`
/// unless the message fits in that chunk; the chunk that completes it, or an Abort, clears it.
#[derive(Debug)]
struct ChunkStream {
    csid: u32,
    /// Timestamp of the latest message started on this chunk stream.
    timestamp: u32,
    /// Delta a `fmt` 3 chunk starting a message adds (for `fmt` 0, its timestamp).
    delta: u32,
    length: u32,
    type_id: MessageType,
    stream_id: u32,
    /// Value of the extended timestamp field when the latest `fmt` 0/1/2 header had one;
    /// `fmt` 3 chunks then carry the field too (§5.3.1.3).
    extended: Option<u32>,
    partial: Option<Partial>,
}

/// What one chunk header parsed into, before anything is committed.
struct ChunkPlan {
    csid: u32,
    fmt: u8,
    /// Index into `ChunkDecoder::streams`; `None` when the chunk opens a new chunk stream.
    stream: Option<usize>,
    /// The 24-bit timestamp (delta) field, for `fmt` 0/1/2.
    timestamp_field: u32,
    /// Message length and type from a `fmt` 0/1 header.
    length: Option<u32>,
    type_id: Option<MessageType>,
    /// Message stream id from a `fmt` 0 header.
    stream_id: Option<u32>,
    /// Extended timestamp consumed with this chunk.
    extended: Option<u32>,
    /// True if the chunk starts a new message, false if it continues `partial`.
    starts_message: bool,
    /// Declared length of the message the chunk belongs to.
    message_len: u32,
    /// Header bytes (basic + message + extended timestamp) and payload bytes.
    header_len: usize,
    payload_len: usize,
}

/// The chunk whose payload is arriving: its chunk stream and the payload bytes still to come.
#[derive(Debug, Clone, Copy)]
struct InChunk {
    /// Index into `ChunkDecoder::streams` (which only grows, so indexes stay valid).
    stream: usize,
    remaining: usize,
}

/// What completing a cut header did: applied it (input bytes taken, a message completed), or
/// took all the input and still needs more.
enum HeaderProgress {
    Applied(usize, Option<Message>),
    NeedMore(usize),
}

/// The start of a chunk header that a read cut off (§5.3.1: at most [`MAX_CHUNK_HEADER_LEN`]
/// bytes decide a header). It may end with up to 4 payload bytes: a `fmt` 3 continuation
/// needs the 4 bytes after its basic header to tell an extended timestamp from payload.
#[derive(Debug, Default)]
struct HeaderStart {
    bytes: [u8; MAX_CHUNK_HEADER_LEN],
    len: usize,
}

impl HeaderStart {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// Appends what fits (the caller never holds more than a header's worth).
    fn extend(&mut self, data: &[u8]) {
        let free = self.bytes.get_mut(self.len..).unwrap_or_default();
        let n = data.len().min(free.len());
        free[..n].copy_from_slice(&data[..n]);
        self.len += n;
    }
}

/// Reassembles RTMP messages from a chunk stream (§5.3).
///
/// Feed it the bytes after the handshake, cut anywhere: [`ChunkDecoder::decode_slice`] consumes
/// from a slice until a message completes or the slice ends (the caller keeps no partial
/// chunk: a payload cut off goes into its message's buffer, a header cut off, at most
/// [`MAX_CHUNK_HEADER_LEN`] bytes, into the decoder); [`ChunkDecoder::decode`] does the same
/// from the front of a `BytesMut`. Apply a received Set Chunk Size
/// ([`ChunkDecoder::set_chunk_size`]) and Abort ([`ChunkDecoder::abort`]) before decoding
/// further: they take effect from the next chunk (a message completes at the end of a chunk).
///
/// Extended timestamps in `fmt` 3 chunks: when the latest `fmt` 0/1/2 header of a chunk stream
/// had an extended timestamp, every later `fmt` 3 chunk carries the 4-byte field too (§5.3.1.3
/// of the 2012 spec; ffmpeg, librtmp, OBS and Flash send it so). Some old encoders (following
/// the 2009 draft) omit it in continuation chunks. Like SRS, a continuation chunk's 4 bytes are
/// taken as the extended timestamp only when they equal the expected value, and otherwise left
/// as payload. A `fmt` 3 chunk that starts a message always carries it. Two consequences of
/// the guess: it needs 4 bytes after the basic header before it can decide, and a payload that
/// happens to begin with the expected value from such an old encoder is misread.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: ChunkLimits,
    chunk_size: u32,
    streams: Vec<ChunkStream>,
    /// Sum of the declared lengths of the messages in `streams[..].partial`.
    pending: usize,
    bytes_received: u64,
    /// The chunk whose payload is being received, if a read ended in it.
    chunk: Option<InChunk>,
    /// A chunk header a read ended in.
    header: HeaderStart,
}

impl ChunkDecoder {
    /// A decoder with the default chunk size of 128 (§5.4.1).
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkDecoder {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            pending: 0,
            bytes_received: 0,
            chunk: None,
            header: HeaderStart::default(),
        }
    }

    /// Replaces the limits for what arrives from now on (a session loosens them once the peer
    /// is a publisher). Messages already being assembled keep their place in `pending`.
    pub fn set_limits(&mut self, limits: ChunkLimits) {
        self.limits = limits;
    }

    /// Applies the peer's Set Chunk Size (§5.4.1). Accepts [`MIN_CHUNK_SIZE`]`..=`
    /// [`MAX_CHUNK_SIZE`]; see the module documentation for why not 1 or more than 65536.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
            return Err(ChunkError::BadChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// The chunk size the peer's chunks are cut at.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Applies the peer's Abort (§5.4.2): drops the partly received message on `csid`, if any.
    /// The chunk stream keeps its header state, so the next message may use `fmt` 1–3.
    pub fn abort(&mut self, csid: u32) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.csid == csid) {
            if let Some(partial) = stream.partial.take() {
                self.pending = self.pending.saturating_sub(partial.length as usize);
            }
        }
    }

    /// Bytes consumed from the input so far, for Acknowledgement (§5.4.3). Does not wrap; the
    /// session reduces it modulo 2^32.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Sum of the declared lengths of partly received messages (bounded by
    /// `max_pending_bytes`).
    pub fn pending_bytes(&self) -> usize {
        self.pending
    }

    /// Consumes bytes from the front of `input` (see [`ChunkDecoder::decode_slice`]) and
    /// returns a message when one completes; `Ok(None)` means "need more bytes" and `input`
    /// is then empty. Errors are connection-fatal; the decoder must not be used after one.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Message>, ChunkError> {
        let (message, used) = self.decode_slice(input)?;
        input.advance(used);
        Ok(message)
    }

    /// Consumes bytes from the front of `input` until a message completes (returned with the
    /// bytes consumed, which may be fewer than `input.len()`: call again with the rest) or
    /// `input` ends (`None`, everything consumed: a header or payload it ended in is kept).
    /// Errors are connection-fatal; the decoder must not be used after one.
    pub fn decode_slice(&mut self, input: &[u8]) -> Result<(Option<Message>, usize), ChunkError> {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            if self.chunk.is_some() {
                let (n, message) = self.take_payload(rest);
                used += n;
                self.bytes_received = self.bytes_received.wrapping_add(n as u64);
                if message.is_some() || self.chunk.is_some() {
                    // A message, or the input ended inside the payload.
                    return Ok((message, used));
                }
                continue;
            }
            if self.header.len > 0 {
                // A header cut by the previous read: complete it a byte at a time (rare: it
                // takes a read ending inside one of the few header bytes of a chunk).
                match self.continue_header(rest)? {
                    HeaderProgress::Applied(n, message) => {
                        used += n;
                        if message.is_some() {
                            return Ok((message, used));
                        }
                        continue;
                    }
                    HeaderProgress::NeedMore(n) => return Ok((None, used + n)),
                }
            }
            if rest.is_empty() {
                return Ok((None, used));
            }
            match self.plan_chunk(rest, self.bytes_received)? {
                Some(plan) => {
                    used += plan.header_len;
                    self.bytes_received = self.bytes_received.wrapping_add(plan.header_len as u64);
                    if let Some(message) = self.start_chunk(&plan) {
                        return Ok((Some(message), used));
                    }
                }
                None => {
                    // Shorter than the header it starts (at most MAX_CHUNK_HEADER_LEN - 1).
                    self.header.extend(rest);
                    used += rest.len();
                    self.bytes_received = self.bytes_received.wrapping_add(rest.len() as u64);
                    return Ok((None, used));
                }
            }
        }
    }

    /// Adds bytes of `input` to a cut header until it decides, then applies it.
    fn continue_header(&mut self, input: &[u8]) -> Result<HeaderProgress, ChunkError> {
        let mut used = 0;
        loop {
            let offset = self.bytes_received - self.header.len as u64;
            if let Some(plan) = self.plan_chunk(self.header.as_slice(), offset)? {
                let held = std::mem::take(&mut self.header);
                let mut extra = held.as_slice().get(plan.header_len..).unwrap_or_default();
                let mut message = self.start_chunk(&plan);
                // Bytes held beyond the header (a fmt 3 continuation without the extended
                // field): payload, then the start of the next chunk if that payload was
                // shorter.
                if message.is_none() && self.chunk.is_some() {
                    let (n, completed) = self.take_payload(extra);
                    message = completed;
                    extra = extra.get(n..).unwrap_or_default();
                }
                self.header.extend(extra);
                return Ok(HeaderProgress::Applied(used, message));
            }
            let Some(&byte) = input.get(used) else {
                return Ok(HeaderProgress::NeedMore(used));
            };
            self.header.extend(&[byte]);
            used += 1;
            self.bytes_received = self.bytes_received.wrapping_add(1);
        }
    }

    /// Applies a checked chunk header. Returns the message when it is complete without
    /// payload bytes (a zero-length message); otherwise the chunk's payload is expected next.
    fn start_chunk(&mut self, plan: &ChunkPlan) -> Option<Message> {
        let index = self.commit(plan);
        if plan.payload_len > 0 {
            self.chunk = Some(InChunk {
                stream: index,
                remaining: plan.payload_len,
            });
            return None;
        }
        self.complete(index)
    }

    /// Appends payload bytes of the current chunk from the front of `data`; returns how many
    /// it took and the message they completed.
    fn take_payload(&mut self, data: &[u8]) -> (usize, Option<Message>) {
        let Some(chunk) = self.chunk else {
            return (0, None);
        };
        let n = chunk.remaining.min(data.len());
        if let Some(partial) = self
            .streams
            .get_mut(chunk.stream)
            .and_then(|s| s.partial.as_mut())
        {
            append(
                &mut partial.payload,
                partial.length as usize,
                data.get(..n).unwrap_or_default(),
            );
        }
        if n < chunk.remaining {
            self.chunk = Some(InChunk {
                remaining: chunk.remaining - n,
                ..chunk
            });
            return (n, None);
        }
        self.chunk = None;
        (n, self.complete(chunk.stream))
    }

    /// Hands over the message of chunk stream `index` if all its payload is there.
    fn complete(&mut self, index: usize) -> Option<Message> {
        let stream = self.streams.get_mut(index)?;
        let done = stream
            .partial
            .as_ref()
            .is_some_and(|p| p.payload.len() >= p.length as usize);
        if !done {
            return None;
        }
        let partial = stream.partial.take()?;
        self.pending = self.pending.saturating_sub(partial.length as usize);
        // The buffer never grows past the declared length, so length == capacity here and
        // the conversion does not copy.
        Some(Message {
            header: partial.header,
            payload: Bytes::from(partial.payload),
        })
    }

    /// Parses and checks the chunk header at the front of `buf` without changing anything;
    /// `offset` is where the chunk starts in the stream (for errors). `Ok(None)` when the
    /// header, or the bytes needed to decide about an extended timestamp, are not all there
    /// yet.
    fn plan_chunk(&self, buf: &[u8], offset: u64) -> Result<Option<ChunkPlan>, ChunkError> {
        // §5.3.1.1 basic header.
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let fmt = first >> FMT_SHIFT;
        let (csid, basic_len) = match first & CSID_MASK {
            CSID_TWO_BYTE => match buf.get(1) {
                Some(&low) => (CSID_LONG_BASE + u32::from(low), 2),
                None => return Ok(None),
            },
            CSID_THREE_BYTE => match (buf.get(1), buf.get(2)) {
                (Some(&low), Some(&high)) => {
                    (CSID_LONG_BASE + u32::from(low) + 256 * u32::from(high), 3)
                }
                _ => return Ok(None),
            },
            csid => (u32::from(csid), 1),
        };
        // §5.3.1.2 message header.
        let message_header_len = match fmt {
            FMT0 => FMT0_HEADER_LEN,
            FMT1 => FMT1_HEADER_LEN,
            FMT2 => FMT2_HEADER_LEN,
            _ => 0,
        };
        let Some(mh) = buf.get(basic_len..basic_len + message_header_len) else {
            return Ok(None);
        };
        // `mh` holds the whole message header of this fmt: the fields read below are there.
        let be24 = |at: usize| u24_at(mh, at).unwrap_or(0);
        let timestamp_field = if fmt == FMT3 { 0 } else { be24(MH_TIMESTAMP) };
        let (length, type_id) = if fmt <= FMT1 {
            let type_id = mh.get(MH_TYPE_ID).copied().map(MessageType::from_u8);
            (Some(be24(MH_LENGTH)), type_id)
        } else {
            (None, None)
        };
        let stream_id = if fmt == FMT0 {
            array_at(mh, MH_STREAM_ID).ok().map(u32::from_le_bytes)
        } else {
            None
        };

        let index = self.streams.iter().position(|s| s.csid == csid);
        let stream = index.and_then(|i| self.streams.get(i));
        let partial = stream.and_then(|s| s.partial.as_ref());
        match (stream, fmt) {
            (None, FMT2 | FMT3) => return Err(ChunkError::NoPreviousHeader { csid, fmt, offset }),
            (None, _) if self.streams.len() >= self.limits.max_chunk_streams => {
                return Err(ChunkError::TooManyChunkStreams {
                    csid,
                    max: self.limits.max_chunk_streams,
                    offset,
                })
            }
            _ => {}
        }
        let (starts_message, message_len, remaining) = match partial {
            Some(partial) => {
                if fmt == FMT0 {
                    return Err(ChunkError::Fmt0MidMessage { csid, offset });
                }
                if let Some(len) = length.filter(|&len| len != partial.length) {
                    return Err(ChunkError::LengthChangedMidMessage {
                        csid,
                        len,
                        expected: partial.length,
                        offset,
                    });
                }
                let received = partial.payload.len();
                let remaining = (partial.length as usize).saturating_sub(received);
                (false, partial.length, remaining)
            }
            None => {
                let len = length.or(stream.map(|s| s.length)).unwrap_or(0);
                if len > self.limits.max_message_len {
                    return Err(ChunkError::MessageTooLong {
                        csid,
                        len,
                        max: self.limits.max_message_len,
                        offset,
                    });
                }
                let total = self.pending.checked_add(len as usize);
                if total.is_none_or(|total| total > self.limits.max_pending_bytes) {
                    return Err(ChunkError::PendingTooLarge {
                        csid,
                        len,
                        pending: self.pending,
                        max: self.limits.max_pending_bytes,
                        offset,
                    });
                }
                (true, len, len as usize)
            }
        };

        // §5.3.1.3 extended timestamp.
        let ext_at = basic_len + message_header_len;
        let ext_field = || u32_at(buf, ext_at).ok();
        let extended = if fmt != FMT3 {
            if timestamp_field == EXTENDED_TIMESTAMP {
                match ext_field() {
                    Some(value) => Some(value),
                    None => return Ok(None),
                }
            } else {
                None
            }
        } else {
            match stream.and_then(|s| s.extended) {
                None => None,
                Some(expected) => match ext_field() {
                    None => return Ok(None),
                    // Starting a message: the field is always there.
                    Some(value) if starts_message => Some(value),
                    // Continuing one: only if it repeats the expected value (see ChunkDecoder).
                    Some(value) if value == expected => Some(value),
                    Some(_) => None,
                },
            }
        };
        let header_len = ext_at + extended.map_or(0, |_| EXTENDED_TIMESTAMP_LEN);
        let payload_len = remaining.min(self.chunk_size as usize);
        Ok(Some(ChunkPlan {
            csid,
            fmt,
            stream: index,
            timestamp_field,
            length,
            type_id,
            stream_id,
            extended,
            starts_message,
            message_len,
            header_len,
            payload_len,
        }))
    }

    /// Applies a checked chunk header to its chunk stream (creating it) and, when the chunk
    /// starts a message, sets up the message's payload buffer. Returns the stream's index.
    fn commit(&mut self, plan: &ChunkPlan) -> usize {
        let index = match plan.stream {
            Some(index) => index,
            None => {
                // A fresh chunk stream (fmt 0, or fmt 1 as librtmp sends): fields start at 0.
                self.streams.push(ChunkStream {
                    csid: plan.csid,
                    timestamp: 0,
                    delta: 0,
                    length: 0,
                    type_id: MessageType::Unknown(0),
                    stream_id: 0,
                    extended: None,
                    partial: None,
                });
                self.streams.len() - 1
            }
        };
        let Some(stream) = self.streams.get_mut(index) else {
            return index;
        };

        // Header fields carried by fmt 0/1/2 are remembered for later chunks, also in the
        // middle of a message.
        if plan.fmt != FMT3 {
            stream.extended = plan.extended;
            let field = plan.extended.unwrap_or(plan.timestamp_field);
            if plan.fmt == FMT0 {
                stream.timestamp = field;
            } else if plan.starts_message {
                stream.timestamp = stream.timestamp.wrapping_add(field);
            }
            stream.delta = field;
        } else if plan.starts_message {
            // §5.3.1.2.4: a fmt 3 chunk starting a message repeats the previous delta; its
            // extended timestamp field, when present, carries that delta.
            if let Some(value) = plan.extended {
                stream.delta = value;
                stream.extended = Some(value);
            }
            stream.timestamp = stream.timestamp.wrapping_add(stream.delta);
        }
        if let Some(length) = plan.length {
            stream.length = length;
        }
        if let Some(type_id) = plan.type_id {
            stream.type_id = type_id;
        }
        if let Some(stream_id) = plan.stream_id {
            stream.stream_id = stream_id;
        }

        if plan.starts_message {
            let header = MessageHeader {
                csid: stream.csid,
                timestamp: stream.timestamp,
                type_id: stream.type_id,
                stream_id: stream.stream_id,
            };
            let length = plan.message_len as usize;
            stream.partial = Some(Partial {
                header,
                length: plan.message_len,
                // Checked against the caps by `plan_chunk`; see PREALLOCATE_MAX.
                payload: Vec::with_capacity(length.min(PREALLOCATE_MAX)),
            });
            self.pending = self.pending.saturating_add(length);
        }
        index
    }

    #[cfg(test)]
    fn held_capacity(&self) -> usize {
        self.streams
            .iter()
            .filter_map(|s| s.partial.as_ref())
            .map(|p| p.payload.capacity())
            .sum()
    }
}

/// Appends `data` to a partial payload, growing it geometrically as chunks arrive but never
/// past `declared` (the message length read off the wire only caps the growth, it never sizes
/// an allocation by itself).
fn append(payload: &mut Vec<u8>, declared: usize, data: &[u8]) {
    let needed = payload.len().saturating_add(data.len());
    if needed > payload.capacity() {
        let target = payload
            .capacity()
            .saturating_mul(2)
            .min(declared)
            .max(needed);
        payload.reserve_exact(target - payload.len());
    }
    payload.extend_from_slice(data);
}

/// Clamps a caller's csid into the encodable range.
fn encodable_csid(csid: u32) -> u32 {
    debug_assert!(
        (MIN_CSID..=MAX_CSID).contains(&csid),
        "csid {csid} outside {MIN_CSID}..={MAX_CSID}"
    );
    csid.clamp(MIN_CSID, MAX_CSID)
}

fn basic_header_len(csid: u32) -> usize {
    match csid {
        ..CSID_LONG_BASE => 1,
        CSID_LONG_BASE..=CSID_TWO_BYTE_MAX => 2,
        _ => 3,
    }
}

/// §5.3.1.1: the shortest form for `csid` (which is already in `MIN_CSID..=MAX_CSID`).
fn put_basic_header(out: &mut impl BufMut, fmt: u8, csid: u32) {
    let fmt_bits = fmt << FMT_SHIFT;
    match csid {
        ..CSID_LONG_BASE => out.put_u8(fmt_bits | csid as u8),
        CSID_LONG_BASE..=CSID_TWO_BYTE_MAX => {
            out.put_u8(fmt_bits | CSID_TWO_BYTE);
            out.put_u8((csid - CSID_LONG_BASE) as u8);
        }
        _ => {
            let rest = csid - CSID_LONG_BASE;
            out.put_u8(fmt_bits | CSID_THREE_BYTE);
            out.put_u8((rest & 0xFF) as u8);
            out.put_u8((rest >> 8) as u8);
        }
    }
}

/// Encodes one message as chunks: first chunk header fmt 0, continuation chunks fmt 3; extended
/// timestamp (when timestamp >= 0xFFFFFF) written in the fmt 0 header AND repeated in every fmt
/// 3 continuation (as ffmpeg and librtmp expect).
/// Stateless on purpose: the same bytes can be shared by every player with the same chunk size.
///
/// `chunk_size` must be the size announced to the peer, in `MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE`;
/// 0 is treated as 1. `header.csid` must be in `MIN_CSID..=MAX_CSID` (clamped otherwise). A
/// payload longer than [`MAX_MESSAGE_LEN`] cannot be framed and is cut to that length; the
/// caller's limits keep messages far below it. `out` must be able to grow (`BytesMut`, `Vec`)
/// or have [`encoded_len`] bytes free.
pub fn encode_message(
    chunk_size: u32,
    header: &MessageHeader,
    payload: &[u8],
    out: &mut impl BufMut,
) {
    debug_assert!(
        payload.len() <= MAX_MESSAGE_LEN as usize,
        "message too long"
    );
    let payload = payload.get(..MAX_MESSAGE_LEN as usize).unwrap_or(payload);
    let chunk_size = chunk_size.max(1) as usize;
    let csid = encodable_csid(header.csid);
    let extended = header.timestamp >= EXTENDED_TIMESTAMP;

    // §5.3.1.2.1 type 0 header.
    put_basic_header(out, FMT0, csid);
    put_u24(out, header.timestamp.min(EXTENDED_TIMESTAMP));
    put_u24(out, payload.len() as u32);
    out.put_u8(header.type_id.to_u8());
    out.put_u32_le(header.stream_id);
    if extended {
        out.put_u32(header.timestamp);
    }
    let mut chunks = payload.chunks(chunk_size);
    if let Some(first) = chunks.next() {
        out.put_slice(first);
    }
    // §5.3.1.2.4 type 3 continuations, each repeating the extended timestamp (§5.3.1.3).
    for chunk in chunks {
        put_basic_header(out, FMT3, csid);
        if extended {
            out.put_u32(header.timestamp);
        }
        out.put_slice(chunk);
    }
}

/// The most bytes [`encode_headers`] writes: a 3-byte basic header, 11 bytes of type 0 header
/// and 4 of extended timestamp, then a type 3 header of up to 3 + 4 bytes.
pub const MAX_HEADERS_LEN: usize = 3 + 11 + 4 + 3 + 4;

/// The headers [`encode_message`] puts around a payload of `payload_len` bytes, without the
/// payload: the type 0 header of the first chunk, then the type 3 header every later chunk
/// starts with (they are all the same). Returns the length of the type 0 header. A writer
/// that sends `out[..first]`, the first `chunk_size` bytes of the payload, then for each
/// further `chunk_size` bytes `out[first..]` and those bytes, sends what [`encode_message`]
/// builds, without copying the payload.
pub fn encode_headers(header: &MessageHeader, payload_len: usize, out: &mut impl BufMut) -> usize {
    let payload_len = payload_len.min(MAX_MESSAGE_LEN as usize);
    let csid = encodable_csid(header.csid);
    let extended = header.timestamp >= EXTENDED_TIMESTAMP;
    // §5.3.1.2.1 type 0 header.
    put_basic_header(out, FMT0, csid);
    put_u24(out, header.timestamp.min(EXTENDED_TIMESTAMP));
    put_u24(out, payload_len as u32);
    out.put_u8(header.type_id.to_u8());
    out.put_u32_le(header.stream_id);
    if extended {
        out.put_u32(header.timestamp);
    }
    // §5.3.1.2.4 type 3, repeating the extended timestamp (§5.3.1.3).
    put_basic_header(out, FMT3, csid);
    if extended {
        out.put_u32(header.timestamp);
    }
    let ext = if extended { 4 } else { 0 };
    basic_header_len(csid) + 11 + ext
}

/// Bytes [`encode_message`] writes for a payload of `payload_len` bytes.
pub fn encoded_len(chunk_size: u32, header: &MessageHeader, payload_len: usize) -> usize {
    let payload_len = payload_len.min(MAX_MESSAGE_LEN as usize);
    let chunk_size = chunk_size.max(1) as usize;
    let basic = basic_header_len(encodable_csid(header.csid));
    let extended = if header.timestamp >= EXTENDED_TIMESTAMP {
        EXTENDED_TIMESTAMP_LEN
    } else {
        0
    };
    let continuations = payload_len.div_ceil(chunk_size).saturating_sub(1);
    basic + FMT0_HEADER_LEN + extended + payload_len + continuations * (basic + extended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use crate::wire::rtmp::message::{ControlMessage, UserControl};

    fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> Message {
        Message {
            header: MessageHeader {
                csid,
                timestamp,
                type_id: MessageType::from_u8(type_id),
                stream_id,
            },
            payload: Bytes::copy_from_slice(payload),
        }
    }

    /// Deterministic filler: 0, 1, 2, ... wrapping at 256.
    fn counting(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn headers_around_payload_slices_are_what_encode_message_writes() {
        for csid in [3, 63, 64, 319, 320, 65599] {
            for timestamp in [
                0,
                1000,
                EXTENDED_TIMESTAMP - 1,
                EXTENDED_TIMESTAMP,
                u32::MAX,
            ] {
                for chunk_size in [1, 128, 4096, 60000] {
                    for len in [0, 1, 127, 128, 129, 4096, 9000] {
                        let header = MessageHeader {
                            csid,
                            timestamp,
                            type_id: MessageType::Video,
                            stream_id: 1,
                        };
                        let payload = counting(len);
                        let mut whole = BytesMut::new();
                        encode_message(chunk_size, &header, &payload, &mut whole);
                        let mut headers = BytesMut::new();
                        let first = encode_headers(&header, len, &mut headers);
                        let mut pieces = headers[..first].to_vec();
                        for (i, chunk) in payload.chunks(chunk_size as usize).enumerate() {
                            if i > 0 {
                                pieces.extend_from_slice(&headers[first..]);
                            }
                            pieces.extend_from_slice(chunk);
                        }
                        assert_eq!(
                            pieces,
                            whole.to_vec(),
                            "csid {csid} ts {timestamp} chunk {chunk_size} len {len}"
                        );
                    }
                }
            }
        }
    }

    /// What decoding one byte stream produced.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        messages: Vec<Message>,
        error: Option<ChunkError>,
        /// Bytes left in the input buffer: 0, since the decoder takes a cut chunk's bytes in
        /// (also 0 after an error, since the rest of the stream is not fed then).
        leftover: usize,
    }

    /// Decodes `bytes` fed in pieces ending at `cuts`, acting on Set Chunk Size and Abort the
    /// way the session does, and checking the decoder's bookkeeping after every call.
    fn decode_split(limits: ChunkLimits, bytes: &[u8], cuts: &[usize]) -> Outcome {
        let mut decoder = ChunkDecoder::new(limits);
        let mut input = BytesMut::new();
        let mut messages = Vec::new();
        let mut fed = 0;
        let ends = cuts.iter().copied().chain([bytes.len()]);
        let mut start = 0;
        for end in ends {
            let end = end.clamp(start, bytes.len());
            input.extend_from_slice(&bytes[start..end]);
            fed += end - start;
            start = end;
            loop {
                let step = decoder.decode(&mut input);
                if step.is_ok() {
                    // What was consumed is counted; what is left is the unconsumed suffix,
                    // empty unless a message completed before it.
                    assert_eq!(decoder.bytes_received() as usize + input.len(), fed);
                    assert!(matches!(step, Ok(Some(_))) || input.is_empty());
                }
                assert!(decoder.pending_bytes() <= limits.max_pending_bytes);
                assert!(decoder.held_capacity() <= decoder.pending_bytes());
                assert!(decoder.streams.len() <= limits.max_chunk_streams);
                match step {
                    Ok(None) => break,
                    Ok(Some(message)) => {
                        assert!(message.payload.len() <= limits.max_message_len as usize);
                        let control =
                            ControlMessage::decode(message.header.type_id, &message.payload);
                        messages.push(message);
                        let applied = match control {
                            Ok(Some(ControlMessage::SetChunkSize(size))) => {
                                decoder.set_chunk_size(size)
                            }
                            Ok(Some(ControlMessage::Abort { csid })) => {
                                decoder.abort(csid);
                                Ok(())
                            }
                            _ => Ok(()),
                        };
                        if let Err(error) = applied {
                            return Outcome {
                                messages,
                                error: Some(error),
                                leftover: 0,
                            };
                        }
                    }
                    Err(error) => {
                        return Outcome {
                            messages,
                            error: Some(error),
                            leftover: 0,
                        }
                    }
                }
            }
        }
        Outcome {
            messages,
            error: None,
            leftover: input.len(),
        }
    }

    /// Golden check: `bytes` decodes to `expected`, consuming everything, whole, cut at every
    /// split point, and byte by byte.
    fn assert_decodes(bytes: &[u8], expected: &[Message]) {
        let limits = ChunkLimits::default();
        let whole = decode_split(limits, bytes, &[]);
        assert_eq!(whole.error, None);
        assert_eq!(whole.messages, expected);
        assert_eq!(whole.leftover, 0, "bytes left undecoded");
        for cut in 0..=bytes.len() {
            let split = decode_split(limits, bytes, &[cut]);
            assert_eq!(split, whole, "cut at {cut}");
        }
        let every: Vec<usize> = (0..bytes.len()).collect();
        assert_eq!(decode_split(limits, bytes, &every), whole, "byte by byte");
    }

    /// Decodes `bytes` whole and returns the error it must end with.
    fn decode_error(limits: ChunkLimits, bytes: &[u8]) -> ChunkError {
        let whole = decode_split(limits, bytes, &[]);
        let every: Vec<usize> = (0..bytes.len()).collect();
        let bytewise = decode_split(limits, bytes, &every);
        assert_eq!(bytewise.messages, whole.messages);
        assert_eq!(bytewise.error, whole.error);
        whole.error.expect("stream should fail")
    }

    fn encoded(chunk_size: u32, message: &Message) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_message(chunk_size, &message.header, &message.payload, &mut out);
        assert_eq!(
            out.len(),
            encoded_len(chunk_size, &message.header, message.payload.len())
        );
        out.to_vec()
    }

    #[test]
    fn fmt0_single_chunk() {
        let bytes = [
            0x04, // basic header: fmt 0, csid 4
            0x00, 0x00, 0x0A, // timestamp 10
            0x00, 0x00, 0x04, // message length 4
            0x08, // type 8, audio
            0x01, 0x00, 0x00, 0x00, // message stream id 1, little-endian
            0xAF, 0x01, 0x21, 0x00, // payload: an AAC raw frame
        ];
        let expected = msg(4, 10, 8, 1, &[0xAF, 0x01, 0x21, 0x00]);
        assert_decodes(&bytes, std::slice::from_ref(&expected));
        assert_eq!(encoded(128, &expected), bytes);
    }

    #[test]
    fn video_300_bytes_at_chunk_size_128_is_fmt0_and_two_fmt3() {
        let payload = counting(300);
        let bytes = [
            &[
                0x06, // fmt 0, csid 6
                0x00, 0x00, 0x00, // timestamp 0
                0x00, 0x01, 0x2C, // length 300
                0x09, // type 9, video
                0x01, 0x00, 0x00, 0x00, // stream 1
            ][..],
            &payload[..128],
            &[0xC6], // fmt 3, csid 6
            &payload[128..256],
            &[0xC6],
            &payload[256..],
        ]
        .concat();
        let expected = msg(6, 0, 9, 1, &payload);
        assert_decodes(&bytes, std::slice::from_ref(&expected));
        assert_eq!(encoded(128, &expected), bytes);
        assert_eq!(bytes.len(), 12 + 300 + 2);
    }

    #[test]
    fn fmt1_fmt2_fmt3_sequence() {
        let bytes = [
            // fmt 0, csid 4: timestamp 1000 (0x3E8), length 4, audio, stream 1.
            0x04, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x04, 0x08, 0x01, 0x00, 0x00, 0x00, //
            0xA1, 0xA2, 0xA3, 0xA4, //
            // fmt 1: delta 23, length 3, audio. Timestamp 1023.
            0x44, 0x00, 0x00, 0x17, 0x00, 0x00, 0x03, 0x08, //
            0xB1, 0xB2, 0xB3, //
            // fmt 2: delta 21. Length 3 inherited. Timestamp 1044.
            0x84, 0x00, 0x00, 0x15, //
            0xC1, 0xC2, 0xC3, //
            // fmt 3 starting a message: delta 21 again. Timestamp 1065.
            0xC4, //
            0xD1, 0xD2, 0xD3, //
            // And again: 1086.
            0xC4, //
            0xE1, 0xE2, 0xE3, //
        ];
        assert_decodes(
            &bytes,
            &[
                msg(4, 1000, 8, 1, &[0xA1, 0xA2, 0xA3, 0xA4]),
                msg(4, 1023, 8, 1, &[0xB1, 0xB2, 0xB3]),
                msg(4, 1044, 8, 1, &[0xC1, 0xC2, 0xC3]),
                msg(4, 1065, 8, 1, &[0xD1, 0xD2, 0xD3]),
                msg(4, 1086, 8, 1, &[0xE1, 0xE2, 0xE3]),
            ],
        );
    }

    #[test]
    fn fmt3_new_message_after_fmt0_adds_the_fmt0_timestamp() {
        // As ffmpeg and SRS compute it (FMLE sends audio this way, see SRS
        // read_message_header): the delta of fmt 3 after fmt 0 is the fmt 0 timestamp.
        let bytes = [
            // fmt 0, csid 4: timestamp 26, length 2, audio, stream 1.
            0x04, 0x00, 0x00, 0x1A, 0x00, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x00, //
            0x01, 0x02, //
            // fmt 3: a new message at 26 + 26.
            0xC4, 0x03, 0x04,
        ];
        assert_decodes(
            &bytes,
            &[msg(4, 26, 8, 1, &[1, 2]), msg(4, 52, 8, 1, &[3, 4])],
        );
    }

    #[test]
    fn extended_timestamp_in_fmt0_and_every_fmt3_continuation() {
        let payload = counting(200);
        let bytes = [
            &[
                0x06, // fmt 0, csid 6
                0xFF, 0xFF, 0xFF, // timestamp: see extended
                0x00, 0x00, 0xC8, // length 200
                0x09, // video
                0x01, 0x00, 0x00, 0x00, // stream 1
                0x01, 0x00, 0x00, 0x00, // extended timestamp 0x01000000
            ][..],
            &payload[..128],
            &[0xC6, 0x01, 0x00, 0x00, 0x00], // fmt 3 + repeated extended timestamp
            &payload[128..],
            &[
                // fmt 1: delta 0x100 (no extended field), length 2, video.
                0x46, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x09, 0xAA, 0xBB,
                // fmt 3 new message: delta 0x100 again, no extended field any more.
                0xC6, 0xCC, 0xDD, // fmt 1 with an extended delta of 0x01000000.
                0x46, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x02, 0x09, 0x01, 0x00, 0x00, 0x00, 0xEE,
                0xFF, //
                // fmt 3 new message: the extended field is present and is the delta.
                0xC6, 0x01, 0x00, 0x00, 0x00, 0x11, 0x22,
            ],
        ]
        .concat();
        let first = msg(6, 0x0100_0000, 9, 1, &payload);
        assert_decodes(
            &bytes,
            &[
                first.clone(),
                msg(6, 0x0100_0100, 9, 1, &[0xAA, 0xBB]),
                msg(6, 0x0100_0200, 9, 1, &[0xCC, 0xDD]),
                msg(6, 0x0200_0200, 9, 1, &[0xEE, 0xFF]),
                msg(6, 0x0300_0200, 9, 1, &[0x11, 0x22]),
            ],
        );
        assert_eq!(encoded(128, &first), bytes[..12 + 4 + 200 + 5]);
    }

    #[test]
    fn extended_timestamp_omitted_in_continuations_is_tolerated() {
        // An old encoder (2009 draft) that leaves the extended timestamp out of fmt 3
        // continuation chunks: the 4 bytes after 0xC6 are payload (0x80818283), not 0x01000000.
        let payload = counting(200);
        let bytes = [
            &[
                0x06, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xC8, 0x09, 0x01, 0x00, 0x00, 0x00, //
                0x01, 0x00, 0x00, 0x00,
            ][..],
            &payload[..128],
            &[0xC6],
            &payload[128..],
        ]
        .concat();
        assert_decodes(&bytes, &[msg(6, 0x0100_0000, 9, 1, &payload)]);
    }

    #[test]
    fn timestamp_0xffffff_uses_the_extended_field_and_deltas_wrap() {
        let bytes = [
            // fmt 0, csid 4, timestamp exactly 0xFFFFFF: the field is the marker, so the
            // extended timestamp carries it (§5.3.1.3 "greater than or equal to").
            0x04, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x08, 0x01, 0x00, 0x00, 0x00, //
            0x00, 0xFF, 0xFF, 0xFF, 0x01, //
            // fmt 0 at 0xFFFFFFFF.
            0x04, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x08, 0x01, 0x00, 0x00, 0x00, //
            0xFF, 0xFF, 0xFF, 0xFF, 0x02, //
            // fmt 2, delta 2: wraps to 1.
            0x84, 0x00, 0x00, 0x02, 0x03,
        ];
        let at_marker = msg(4, 0xFF_FFFF, 8, 1, &[1]);
        let at_max = msg(4, u32::MAX, 8, 1, &[2]);
        assert_decodes(
            &bytes,
            &[at_marker.clone(), at_max.clone(), msg(4, 1, 8, 1, &[3])],
        );
        assert_eq!(encoded(128, &at_marker), bytes[..17]);
        assert_eq!(encoded(128, &at_max), bytes[17..34]);
    }

    #[test]
    fn two_and_three_byte_basic_headers() {
        let payload = counting(130);
        // (csid, fmt 0 basic header, fmt 3 basic header)
        let cases: [(u32, &[u8], &[u8]); 4] = [
            (64, &[0x00, 0x00], &[0xC0, 0x00]),  // 2 bytes: 64 - 64 = 0
            (319, &[0x00, 0xFF], &[0xC0, 0xFF]), // 2 bytes: 319 - 64 = 255
            (320, &[0x01, 0x00, 0x01], &[0xC1, 0x00, 0x01]), // 3 bytes: 256 = 0x00 + 0x01 * 256
            (65599, &[0x01, 0xFF, 0xFF], &[0xC1, 0xFF, 0xFF]), // 3 bytes: 65535
        ];
        for (csid, fmt0, fmt3) in cases {
            let bytes = [
                fmt0,
                // timestamp 5, length 130 (0x82), command, stream 0.
                &[
                    0x00, 0x00, 0x05, 0x00, 0x00, 0x82, 0x14, 0x00, 0x00, 0x00, 0x00,
                ],
                &payload[..128],
                fmt3,
                &payload[128..],
            ]
            .concat();
            let expected = msg(csid, 5, 20, 0, &payload);
            assert_decodes(&bytes, std::slice::from_ref(&expected));
            assert_eq!(encoded(128, &expected), bytes, "csid {csid}");
        }
        // csid 100 in the 3-byte form (allowed for 64..=319, §5.3.1.1): 100 - 64 = 0x24.
        let bytes = [
            0x01, 0x24, 0x00, // fmt 0, 3-byte form, csid 100
            0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x00, 0x00, 0x00, 0x7F,
        ];
        assert_decodes(&bytes, &[msg(100, 0, 8, 1, &[0x7F])]);
    }

    #[test]
    fn interleaved_audio_and_video_chunk_streams() {
        let video = counting(300);
        let bytes = [
            // Video, csid 6, first chunk of 300 bytes.
            &[
                0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2C, 0x09, 0x01, 0x00, 0x00, 0x00,
            ][..],
            &video[..128],
            // Audio, csid 4, a whole 4-byte message at 0.
            &[
                0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x08, 0x01, 0x00, 0x00, 0x00,
            ],
            &[0xA1, 0xA2, 0xA3, 0xA4],
            // Video continuation.
            &[0xC6],
            &video[128..256],
            // Audio fmt 2, delta 23.
            &[0x84, 0x00, 0x00, 0x17, 0xB1, 0xB2, 0xB3, 0xB4],
            // Last video chunk.
            &[0xC6],
            &video[256..],
        ]
        .concat();
        assert_decodes(
            &bytes,
            &[
                msg(4, 0, 8, 1, &[0xA1, 0xA2, 0xA3, 0xA4]),
                msg(4, 23, 8, 1, &[0xB1, 0xB2, 0xB3, 0xB4]),
                msg(6, 0, 9, 1, &video),
            ],
        );
    }

    #[test]
    fn chunk_size_change_mid_stream() {
        let video = counting(300);
        let bytes = [
            // Set Chunk Size 256 on csid 2, stream 0 (§5.4.1).
            &[
                0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00,
            ][..],
            &[0x00, 0x00, 0x01, 0x00],
            // 300 bytes of video now in chunks of 256 + 44.
            &[
                0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2C, 0x09, 0x01, 0x00, 0x00, 0x00,
            ],
            &video[..256],
            &[0xC6],
            &video[256..],
        ]
        .concat();
        let expected = msg(6, 0, 9, 1, &video);
        assert_decodes(
            &bytes,
            &[msg(2, 0, 1, 0, &[0x00, 0x00, 0x01, 0x00]), expected.clone()],
        );
        assert_eq!(encoded(256, &expected), bytes[16..]);
    }

    #[test]
    fn abort_drops_the_partial_message() {
        let video = counting(300);
        let bytes = [
            &[
                0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2C, 0x09, 0x01, 0x00, 0x00, 0x00,
            ][..],
            &video[..128],
            // Abort csid 6 (§5.4.2).
            &[
                0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00,
            ],
            &[0x00, 0x00, 0x00, 0x06],
            // A new message on csid 6 may start with fmt 0 again: timestamp 100, 3 bytes.
            &[
                0x06, 0x00, 0x00, 0x64, 0x00, 0x00, 0x03, 0x09, 0x01, 0x00, 0x00, 0x00,
            ],
            &[0x01, 0x02, 0x03],
            // Or with fmt 3 (delta 100, length 3): timestamp 200.
            &[0xC6, 0x04, 0x05, 0x06],
        ]
        .concat();
        assert_decodes(
            &bytes,
            &[
                msg(2, 0, 2, 0, &[0, 0, 0, 6]),
                msg(6, 100, 9, 1, &[1, 2, 3]),
                msg(6, 200, 9, 1, &[4, 5, 6]),
            ],
        );

        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        let mut input = BytesMut::from(&bytes[..140]);
        assert_eq!(decoder.decode(&mut input), Ok(None));
        assert_eq!(decoder.pending_bytes(), 300);
        decoder.abort(6);
        decoder.abort(99); // unknown csid: nothing to do
        assert_eq!(decoder.pending_bytes(), 0);
        assert_eq!(decoder.held_capacity(), 0);
    }

    #[test]
    fn librtmp_ping_on_a_fresh_csid_with_fmt1() {
        // librtmp sends its first control message on csid 2 with fmt 1 (quoted in SRS).
        let bytes = [
            0x42, // fmt 1, csid 2
            0x00, 0x00, 0x00, // timestamp delta 0
            0x00, 0x00, 0x06, // length 6
            0x04, // user control
            0x00, 0x06, // event 6, ping request
            0x00, 0x00, 0x0D, 0x0F, // timestamp
        ];
        let expected = msg(2, 0, 4, 0, &[0x00, 0x06, 0x00, 0x00, 0x0D, 0x0F]);
        assert_decodes(&bytes, std::slice::from_ref(&expected));
        assert_eq!(
            ControlMessage::decode(expected.header.type_id, &expected.payload),
            Ok(Some(ControlMessage::UserControl(UserControl::PingRequest(
                0x0D0F
            ))))
        );
    }

    #[test]
    fn empty_messages() {
        let bytes = [
            // fmt 0, csid 3, timestamp 0, length 0, command AMF0, stream 0: no payload.
            0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00,
            // fmt 3 starting another empty message.
            0xC3,
        ];
        let empty = msg(3, 0, 20, 0, &[]);
        assert_decodes(&bytes, &[empty.clone(), empty.clone()]);
        assert_eq!(encoded(128, &empty), bytes[..12]);
    }

    #[test]
    fn fmt1_and_fmt2_inside_a_message_continue_it() {
        let payload = counting(130);
        let bytes = [
            // fmt 0, csid 6, timestamp 0, length 130, video, stream 1.
            &[
                0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82, 0x09, 0x01, 0x00, 0x00, 0x00,
            ][..],
            &payload[..128],
            // fmt 1 with the same length and a delta of 16: continues the message.
            &[0x46, 0x00, 0x00, 0x10, 0x00, 0x00, 0x82, 0x09],
            &payload[128..],
            // fmt 3 starts the next message with the recorded delta 16.
            &[0xC6],
            &payload[..128],
            // fmt 2 with delta 32 continues it.
            &[0x86, 0x00, 0x00, 0x20],
            &payload[128..],
            // fmt 3: the next message is 32 later.
            &[0xC6],
            &payload[..128],
            &[0xC6],
            &payload[128..],
        ]
        .concat();
        assert_decodes(
            &bytes,
            &[
                msg(6, 0, 9, 1, &payload),
                msg(6, 16, 9, 1, &payload),
                msg(6, 48, 9, 1, &payload),
            ],
        );
    }

    #[test]
    fn header_errors() {
        let limits = ChunkLimits::default();
        // fmt 2 and fmt 3 on a chunk stream never seen.
        assert_eq!(
            decode_error(limits, &[0x84, 0x00, 0x00, 0x01]),
            ChunkError::NoPreviousHeader {
                csid: 4,
                fmt: 2,
                offset: 0
            }
        );
        let mut after_one = vec![0x04, 0, 0, 0, 0, 0, 1, 0x08, 1, 0, 0, 0, 0xAA];
        after_one.push(0xC5);
        assert_eq!(
            decode_error(limits, &after_one),
            ChunkError::NoPreviousHeader {
                csid: 5,
                fmt: 3,
                offset: 13
            }
        );

        let first_chunk = [
            &[
                0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2C, 0x09, 0x01, 0x00, 0x00, 0x00,
            ][..],
            &counting(128),
        ]
        .concat();
        // fmt 0 while the 300-byte message is incomplete.
        let fmt0 = [&first_chunk[..], &first_chunk[..12]].concat();
        assert_eq!(
            decode_error(limits, &fmt0),
            ChunkError::Fmt0MidMessage {
                csid: 6,
                offset: 140
            }
        );
        // fmt 1 changing its length.
        let fmt1 = [&first_chunk[..], &[0x46, 0, 0, 0, 0x00, 0x00, 0x05, 0x09]].concat();
        assert_eq!(
            decode_error(limits, &fmt1),
            ChunkError::LengthChangedMidMessage {
                csid: 6,
                len: 5,
                expected: 300,
                offset: 140
            }
        );
    }

    #[test]
    fn declared_length_over_the_limit_fails_before_any_payload() {
        let bytes = [
            0x03, 0x00, 0x00, 0x00, // fmt 0, csid 3, timestamp 0
            0xFF, 0xFF, 0xFF, // length 16 MiB - 1
            0x09, 0x01, 0x00, 0x00, 0x00,
        ];
        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        let mut input = BytesMut::from(&bytes[..]);
        assert_eq!(
            decoder.decode(&mut input),
            Err(ChunkError::MessageTooLong {
                csid: 3,
                len: 0xFF_FFFF,
                max: 8 * 1024 * 1024,
                offset: 0
            })
        );
        assert_eq!(decoder.held_capacity(), 0);

        // Also via fmt 1 on a known chunk stream, at its offset.
        let limits = ChunkLimits {
            max_message_len: 1000,
            ..ChunkLimits::default()
        };
        let bytes = [
            0x04, 0, 0, 0, 0, 0, 1, 0x08, 1, 0, 0, 0, 0xAA, // 13 bytes, fine
            0x44, 0, 0, 0, 0x00, 0x03, 0xE9, 0x08, // fmt 1, length 1001
        ];
        assert_eq!(
            decode_error(limits, &bytes),
            ChunkError::MessageTooLong {
                csid: 4,
                len: 1001,
                max: 1000,
                offset: 13
            }
        );
    }

    #[test]
    fn sixty_fifth_chunk_stream_is_refused() {
        let mut bytes = Vec::new();
        for csid in 2..=66 {
            let empty = msg(csid, 0, 20, 0, &[]);
            bytes.extend(encoded(128, &empty));
        }
        let outcome = decode_split(ChunkLimits::default(), &bytes, &[]);
        assert_eq!(outcome.messages.len(), 64);
        assert!(matches!(
            outcome.error,
            Some(ChunkError::TooManyChunkStreams {
                csid: 66,
                max: 64,
                ..
            })
        ));
    }

    #[test]
    fn pending_bytes_are_capped_across_chunk_streams() {
        let limits = ChunkLimits {
            max_message_len: 800,
            max_chunk_streams: 64,
            max_pending_bytes: 1000,
        };
        let payload = counting(600);
        let first = encoded(128, &msg(6, 0, 9, 1, &payload));
        let second = encoded(128, &msg(7, 0, 9, 1, &payload));
        // Both first chunks, interleaved: the second would hold 1200 declared bytes.
        let bytes = [&first[..140], &second[..140]].concat();
        assert_eq!(
            decode_error(limits, &bytes),
            ChunkError::PendingTooLarge {
                csid: 7,
                len: 600,
                pending: 600,
                max: 1000,
                offset: 140
            }
        );
        // One after the other is fine: a completed message is no longer pending.
        let bytes = [&first[..], &second[..]].concat();
        let outcome = decode_split(limits, &bytes, &[]);
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.messages.len(), 2);
    }

    #[test]
    fn chunk_size_bounds() {
        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(decoder.chunk_size(), DEFAULT_CHUNK_SIZE);
        for bad in [0, 1, 127, 65537, 0x7FFF_FFFF, u32::MAX] {
            assert_eq!(
                decoder.set_chunk_size(bad),
                Err(ChunkError::BadChunkSize(bad))
            );
        }
        assert_eq!(decoder.chunk_size(), DEFAULT_CHUNK_SIZE);
        for good in [128, 4096, 60000, 65536] {
            assert_eq!(decoder.set_chunk_size(good), Ok(()));
            assert_eq!(decoder.chunk_size(), good);
        }
    }

    #[test]
    fn payload_buffer_is_allocated_at_the_declared_length_up_to_preallocate_max() {
        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        decoder.set_chunk_size(4096).unwrap();
        // A 25 000-byte keyframe (a 1 Mbit/s camera's), first chunk only.
        let keyframe = encoded(4096, &msg(6, 0, 9, 1, &counting(25_000)));
        let (message, used) = decoder.decode_slice(&keyframe[..12 + 4096]).unwrap();
        assert_eq!((message, used), (None, 12 + 4096));
        assert_eq!(
            decoder.held_capacity(),
            25_000,
            "one buffer, its final size"
        );
        // Then byte by byte: the buffer never moves, and becomes the message.
        let buffer = decoder.streams[0]
            .partial
            .as_ref()
            .unwrap()
            .payload
            .as_ptr();
        let rest = &keyframe[12 + 4096..];
        for (i, byte) in rest.iter().enumerate() {
            let (message, used) = decoder.decode_slice(std::slice::from_ref(byte)).unwrap();
            assert_eq!(used, 1);
            if i + 1 < rest.len() {
                assert!(message.is_none());
                assert_eq!(decoder.held_capacity(), 25_000);
            } else {
                let message = message.unwrap();
                assert_eq!(message.payload, counting(25_000));
                assert_eq!(message.payload.as_ptr(), buffer, "not copied out");
            }
        }
        assert_eq!((decoder.held_capacity(), decoder.pending_bytes()), (0, 0));

        // A 4 MiB declaration is allowed by the caps, but only PREALLOCATE_MAX is allocated
        // before the peer sends the bytes; the buffer then doubles, never past the length.
        let len = 4 << 20;
        let big = encoded(4096, &msg(6, 0, 9, 1, &counting(len)));
        let mut at = 0;
        let mut capacities = Vec::new();
        while at < big.len() {
            let end = (at + 100_000).min(big.len());
            let (message, used) = decoder.decode_slice(&big[at..end]).unwrap();
            at += used;
            match message {
                None => capacities.push(decoder.held_capacity()),
                Some(m) => assert_eq!(m.payload.len(), len),
            }
        }
        assert_eq!(
            capacities[0],
            PREALLOCATE_MAX * 2,
            "64 KiB, doubled by 100 000 bytes"
        );
        assert!(capacities.windows(2).all(|w| w[0] <= w[1]));
        assert!(capacities.iter().all(|&c| c <= len));
    }

    #[test]
    fn decode_slice_stops_after_a_message_and_keeps_a_cut_header() {
        let a = encoded(128, &msg(4, 10, 8, 1, &[1, 2, 3]));
        let b = encoded(128, &msg(4, 20, 8, 1, &[4, 5]));
        let bytes = [&a[..], &b[..]].concat();
        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        // Two messages in one slice: the first comes back with what it consumed.
        let (first, used) = decoder.decode_slice(&bytes).unwrap();
        assert_eq!(first, Some(msg(4, 10, 8, 1, &[1, 2, 3])));
        assert_eq!(used, a.len());
        // The second's header cut after 5 bytes: all taken, kept by the decoder.
        let (none, used) = decoder.decode_slice(&b[..5]).unwrap();
        assert_eq!((none, used), (None, 5));
        assert_eq!(decoder.bytes_received(), a.len() as u64 + 5);
        let (second, used) = decoder.decode_slice(&b[5..]).unwrap();
        assert_eq!(second, Some(msg(4, 20, 8, 1, &[4, 5])));
        assert_eq!(used, b.len() - 5);
        assert_eq!(decoder.bytes_received(), bytes.len() as u64);
    }

    #[test]
    fn encode_decode_round_trip() {
        let chunk_sizes = [128, 129, 1000, 4096, 65536];
        let lens = [
            0, 1, 127, 128, 129, 255, 256, 257, 300, 4095, 4096, 4097, 65536, 65537, 140_000,
        ];
        let timestamps = [0, 1, 0xFF_FFFE, 0xFF_FFFF, 0x0100_0000, u32::MAX];
        let csids = [2, 3, 63, 64, 319, 320, 65599];
        for chunk_size in chunk_sizes {
            for len in lens {
                for (i, timestamp) in timestamps.into_iter().enumerate() {
                    let csid = csids[(i + len) % csids.len()];
                    let message = msg(csid, timestamp, 9, 1, &counting(len));
                    let bytes = encoded(chunk_size, &message);
                    let mut decoder = ChunkDecoder::new(ChunkLimits::default());
                    decoder.set_chunk_size(chunk_size).unwrap();
                    let mut input = BytesMut::from(&bytes[..]);
                    let got = decoder.decode(&mut input);
                    assert_eq!(got, Ok(Some(message)), "chunk {chunk_size} len {len}");
                    assert!(input.is_empty());
                    assert_eq!(decoder.bytes_received(), bytes.len() as u64);
                    assert_eq!(decoder.pending_bytes(), 0);
                }
            }
        }
    }

    #[test]
    fn round_trip_of_many_messages_in_random_pieces() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        let mut chunk_size = DEFAULT_CHUNK_SIZE;
        for _ in 0..200 {
            if rng.below(10) == 0 {
                let size: u32 = [128, 200, 4096, 65536][rng.below(4)];
                let set = msg(2, 0, 1, 0, &size.to_be_bytes());
                bytes.extend(encoded(chunk_size, &set));
                expected.push(set);
                chunk_size = size;
            }
            let csid = [3, 4, 6, 64, 320][rng.below(5)];
            let timestamp = [0, 40, 0xFF_FFFF, u32::MAX, rng.next() as u32][rng.below(5)];
            let message = msg(
                csid,
                timestamp,
                8 + rng.below(2) as u8,
                1,
                &counting(rng.below(3000)),
            );
            bytes.extend(encoded(chunk_size, &message));
            expected.push(message);
        }
        for _ in 0..20 {
            let mut cuts: Vec<usize> = (0..rng.below(400))
                .map(|_| rng.below(bytes.len() + 1))
                .collect();
            cuts.sort_unstable();
            let outcome = decode_split(ChunkLimits::default(), &bytes, &cuts);
            assert_eq!(outcome.error, None);
            assert_eq!(outcome.leftover, 0);
            assert_eq!(outcome.messages, expected);
        }
    }

    /// A byte stream for one fuzz case: valid chunks (possibly mutated) or plain noise.
    fn fuzz_input(rng: &mut XorShift) -> (Vec<u8>, Option<Vec<Message>>) {
        if rng.below(4) == 0 {
            let len = rng.below(700);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Keep some cases alive past the first byte: start with fmt 0.
            if let Some(first) = bytes.first_mut() {
                if rng.below(2) == 0 {
                    *first &= 0x3F;
                }
            }
            return (bytes, None);
        }
        let mut bytes = Vec::new();
        let mut messages = Vec::new();
        let mut chunk_size = DEFAULT_CHUNK_SIZE;
        for _ in 0..1 + rng.below(6) {
            if rng.below(6) == 0 {
                let size: u32 = [128, 129, 300, 1000][rng.below(4)];
                let set = msg(2, 0, 1, 0, &size.to_be_bytes());
                bytes.extend(encoded(chunk_size, &set));
                messages.push(set);
                chunk_size = size;
            }
            let csid = [2, 3, 4, 5, 6, 7, 8, 9, 10, 64, 319, 320, 65599][rng.below(13)];
            let timestamp = [0, 1, 0xFF_FFFF, u32::MAX, rng.next() as u32][rng.below(5)];
            let len = [0, 1, 128, 129, rng.below(2000), rng.below(5000)][rng.below(6)];
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let message = msg(
                csid,
                timestamp,
                rng.next() as u8,
                rng.next() as u32,
                &payload,
            );
            bytes.extend(encoded(chunk_size, &message));
            messages.push(message);
        }
        let mutations = rng.below(4);
        for _ in 0..mutations {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, rng.next() as u8),
            }
        }
        (bytes, (mutations == 0).then_some(messages))
    }

    #[test]
    fn fuzz_random_bytes_in_random_splits() {
        let limits = ChunkLimits {
            max_message_len: 4096,
            max_chunk_streams: 8,
            max_pending_bytes: 6000,
        };
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut completed = 0usize;
        let mut failed = 0usize;
        for case in 0..10_000 {
            let (bytes, valid) = fuzz_input(&mut rng);
            let whole = decode_split(limits, &bytes, &[]);
            let mut cuts: Vec<usize> = (0..rng.below(40))
                .map(|_| rng.below(bytes.len() + 1))
                .collect();
            cuts.sort_unstable();
            let split = decode_split(limits, &bytes, &cuts);
            assert_eq!(split, whole, "case {case}: splitting changed the outcome");
            if let Some(expected) = valid {
                let all_fit = expected.iter().all(|m| m.payload.len() <= 4096);
                if all_fit && whole.error.is_none() {
                    assert_eq!(whole.messages, expected, "case {case}");
                }
            }
            completed += whole.messages.len();
            failed += usize::from(whole.error.is_some());
        }
        // The generator reaches both outcomes often.
        assert!(completed > 10_000, "{completed}");
        assert!(failed > 1_000, "{failed}");
    }
}
