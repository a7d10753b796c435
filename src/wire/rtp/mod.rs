//! RTP (RFC 3550 §5.1) packets, their RFC 4571 framing over TCP, and a small reordering
//! buffer: the media transport of GB/T 28181-2016 (Annex C: MPEG-PS over RTP, over UDP
//! or over TCP) and of RTSP. The payload formats RTSP carries are in submodules, with their
//! shared contract in [`payload`]: [`h264`] (RFC 6184) and [`h265`] (RFC 7798) over the NAL-unit
//! machinery of [`nal`], [`aac`] (RFC 3640 `mpeg4-generic`), [`latm`] (RFC 6416 `MP4A-LATM`),
//! [`audio`] (G.711, Opus), each a depacketizer and a packetizer; [`av1`] (AOM's AV1 payload
//! format), the packetizer for WebRTC players, and [`av1_depacketizer`] for WebRTC
//! publishers (RTSP descriptions are not parsed into AV1);
//! [`timestamp`] unwraps 32-bit timestamps. RTCP is [`crate::wire::rtcp`].
//!
//! Pure code: bytes in, packets out; no I/O, no clock.
//!
//! # Decisions
//! - [`RtpPacket::decode`] reads the CSRC list and the header extension (§5.3.1) only to skip
//!   them: neither is kept, and [`RtpPacket::encode`] writes CC = 0, X = 0, P = 0. GB cameras
//!   send neither.
//! - The payload is a slice of the datagram ([`Bytes::slice`]): no copy.
//! - [`FrameDecoder`] checks the RTP version (2) of each frame's first byte as soon as it is
//!   present, to catch a TCP stream that lost its framing (or a camera sending raw PS without
//!   the RFC 4571 length). That error is connection-fatal: there is no way to find the next
//!   frame boundary. RTCP packets (also version 2) pass through the framer unchanged.
//! - [`Reorder`] never reads the clock. A gap is given up when the window is spanned, or when
//!   the caller calls [`Reorder::flush`] (from its timer, on a quiet stream).

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub mod aac;
pub mod audio;
pub mod av1;
pub mod av1_depacketizer;
pub mod h264;
pub mod h265;
pub mod latm;
pub mod nal;
pub mod payload;
pub mod timestamp;

pub use payload::{
    AccessUnit, DepacketizeError, DepacketizeStats, Depacketizer, PacketizeError, Packetizer,
    RtpWriter, DEFAULT_MAX_ACCESS_UNIT, DEFAULT_MTU, MIN_MAX_ACCESS_UNIT,
};

/// RTP version carried in the top two bits of the first byte (§5.1).
pub const VERSION: u8 = 2;
/// Fixed header: V/P/X/CC, M/PT, sequence, timestamp, SSRC (§5.1).
pub const FIXED_HEADER_LEN: usize = 12;
/// Largest packet RFC 4571 can frame: its length field is 16 bits.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;
/// Length prefix of an RFC 4571 frame.
pub const FRAME_HEADER_LEN: usize = 2;

/// Field offsets and masks of the fixed header (§5.1).
const OFF_SEQUENCE: usize = 2;
const OFF_TIMESTAMP: usize = 4;
const OFF_SSRC: usize = 8;
const VERSION_SHIFT: u8 = 6;
const PADDING_BIT: u8 = 0x20;
const EXTENSION_BIT: u8 = 0x10;
const CSRC_COUNT_MASK: u8 = 0x0F;
const MARKER_BIT: u8 = 0x80;
const PAYLOAD_TYPE_MASK: u8 = 0x7F;
/// Each CSRC identifier is 32 bits (§5.1).
const CSRC_LEN: usize = 4;
/// Header extension: 16-bit profile-defined field, 16-bit length in 32-bit words (§5.3.1).
const EXTENSION_HEADER_LEN: usize = 4;
const EXTENSION_WORD_LEN: usize = 4;

/// Why a packet or a TCP stream could not be decoded.
///
/// All but [`RtpError::FrameDesync`] spoil one packet: drop it and keep going (a reordering
/// gap then reports it as lost). `FrameDesync` ends the TCP connection.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet of {len} bytes is shorter than the 12-byte header")]
    TooShort { len: usize },
    /// The version bits are not 2.
    #[error("RTP version {version}, expected 2")]
    BadVersion { version: u8 },
    /// The CSRC list or the header extension runs past the end: `needed` bytes of header, the
    /// packet has `len`.
    #[error("RTP header needs {needed} bytes, packet has {len}")]
    Truncated { needed: usize, len: usize },
    /// P bit set but the pad count (last byte) is 0 or larger than the bytes after the header.
    #[error("RTP pad count {count} invalid: {available} bytes follow the header")]
    BadPadding { count: u8, available: usize },
    /// RFC 4571: the byte after a frame's length is not an RTP/RTCP version-2 header, so the
    /// TCP stream is not (or no longer) framed. Connection-fatal.
    #[error("RFC 4571 stream out of sync: frame of {length} bytes starts with {first_byte:#04x}")]
    FrameDesync { first_byte: u8, length: usize },
    /// RFC 4571: a frame longer than the decoder's limit ([`FrameDecoder::any_payload`]).
    /// Connection-fatal, like a desync: the frame is not read.
    #[error("RFC 4571 frame of {length} bytes is over the limit of {max}")]
    FrameOversize { length: usize, max: usize },
    /// [`encode_frame`] was given more than [`MAX_FRAME_LEN`] bytes.
    #[error("packet of {len} bytes does not fit an RFC 4571 frame (max 65535)")]
    FrameTooLong { len: usize },
}

/// One RTP packet (RFC 3550 §5.1), CSRCs, extension and padding removed.
#[derive(Debug, Clone, PartialEq)]
pub struct RtpPacket {
    pub marker: bool,
    /// 7 bits; [`RtpPacket::encode`] writes the low 7 bits only.
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Bytes,
}

impl RtpPacket {
    /// Decodes one whole packet (a UDP datagram or an RFC 4571 frame).
    ///
    /// Skips the CSRC list and the header extension (§5.3.1); with the P bit set, the last byte
    /// is the pad count, which counts itself (§5.1) and must be in `1..=` the bytes after the
    /// header. The payload may be empty.
    pub fn decode(buf: Bytes) -> Result<RtpPacket, RtpError> {
        let len = buf.len();
        if len < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let first = buf[0];
        let version = first >> VERSION_SHIFT;
        if version != VERSION {
            return Err(RtpError::BadVersion { version });
        }
        let mut header_len = FIXED_HEADER_LEN + CSRC_LEN * usize::from(first & CSRC_COUNT_MASK);
        if first & EXTENSION_BIT != 0 {
            let ext_at = header_len;
            header_len += EXTENSION_HEADER_LEN;
            if len < header_len {
                return Err(RtpError::Truncated {
                    needed: header_len,
                    len,
                });
            }
            let words = u16::from_be_bytes([buf[ext_at + 2], buf[ext_at + 3]]);
            header_len += EXTENSION_WORD_LEN * usize::from(words);
        }
        if len < header_len {
            return Err(RtpError::Truncated {
                needed: header_len,
                len,
            });
        }
        let mut end = len;
        if first & PADDING_BIT != 0 {
            let count = buf[len - 1];
            let available = len - header_len;
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::BadPadding { count, available });
            }
            end -= usize::from(count);
        }
        let second = buf[1];
        Ok(RtpPacket {
            marker: second & MARKER_BIT != 0,
            payload_type: second & PAYLOAD_TYPE_MASK,
            sequence: u16::from_be_bytes([buf[OFF_SEQUENCE], buf[OFF_SEQUENCE + 1]]),
            timestamp: u32::from_be_bytes(field4(&buf, OFF_TIMESTAMP)),
            ssrc: u32::from_be_bytes(field4(&buf, OFF_SSRC)),
            payload: buf.slice(header_len..end),
        })
    }

    /// Writes the fixed header (V = 2, no padding, no extension, no CSRC) and the payload.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(VERSION << VERSION_SHIFT);
        let marker = if self.marker { MARKER_BIT } else { 0 };
        out.put_u8(marker | (self.payload_type & PAYLOAD_TYPE_MASK));
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        out.put_slice(&self.payload);
    }

    /// Bytes [`RtpPacket::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER_LEN + self.payload.len()
    }
}

/// RTCP payload types as the second byte shows them with the marker bit masked off: 192–223
/// is 64–95 (RFC 5761 §4). RTP over RFC 4571 may carry RTCP on the same connection.
const RTCP_TYPES: std::ops::RangeInclusive<u8> = 64..=95;

/// Whether `packet` is RTCP rather than RTP, by its second byte (RFC 5761 §4). Check this
/// before [`RtpPacket::decode`] on a connection that may carry both.
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet
        .get(1)
        .is_some_and(|b| RTCP_TYPES.contains(&(b & PAYLOAD_TYPE_MASK)))
}

fn field4(buf: &[u8], at: usize) -> [u8; 4] {
    [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]
}

/// RFC 4571 framing over TCP: each packet is preceded by its length as a 16-bit big-endian
/// number.
///
/// Frames are at most [`MAX_FRAME_LEN`] bytes by construction (the length is 16 bits), so the
/// decoder needs no limit of its own; the caller's read buffer must hold
/// `FRAME_HEADER_LEN + MAX_FRAME_LEN` bytes for any frame to complete. Frames of length 0 are
/// skipped (counted in [`FrameDecoder::empty_frames`]).
#[derive(Debug)]
pub struct FrameDecoder {
    empty_frames: u64,
    /// RTP/RTCP only: each frame's first byte must be version 2.
    rtp_only: bool,
    /// Longest frame taken; a longer length is [`RtpError::FrameOversize`].
    max_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            empty_frames: 0,
            rtp_only: true,
            max_len: MAX_FRAME_LEN,
        }
    }
}

impl FrameDecoder {
    /// RTP and RTCP frames (GB28181, RTSP): any length, version 2 checked.
    pub fn new() -> Self {
        FrameDecoder::default()
    }

    /// Frames of any payload up to `max_len` bytes: ICE-TCP (RFC 6544 §3), where STUN, DTLS
    /// and SRTP share one RFC 4571 stream, so no first byte can be checked; the length is
    /// checked instead, as soon as it is read.
    pub fn any_payload(max_len: usize) -> Self {
        FrameDecoder {
            empty_frames: 0,
            rtp_only: false,
            max_len,
        }
    }

    /// Takes the next whole frame off the front of `input` (without its length prefix; the
    /// bytes are split off, not copied). `Ok(None)`: need more bytes, `input` holds at most a
    /// partial frame (and nothing was consumed but empty frames).
    ///
    /// [`RtpError::FrameDesync`] as soon as a frame's first byte is not version 2 (not with
    /// [`FrameDecoder::any_payload`]), [`RtpError::FrameOversize`] as soon as a length is over
    /// the limit; `input` is left at that frame, so calling again gives the same error: close
    /// the connection.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Bytes>, RtpError> {
        loop {
            if input.len() < FRAME_HEADER_LEN {
                return Ok(None);
            }
            let length = usize::from(u16::from_be_bytes([input[0], input[1]]));
            if length == 0 {
                input.advance(FRAME_HEADER_LEN);
                self.empty_frames += 1;
                continue;
            }
            if length > self.max_len {
                let max = self.max_len;
                return Err(RtpError::FrameOversize { length, max });
            }
            if let Some(&first_byte) = input.get(FRAME_HEADER_LEN).filter(|_| self.rtp_only) {
                if first_byte >> VERSION_SHIFT != VERSION {
                    return Err(RtpError::FrameDesync { first_byte, length });
                }
            }
            if input.len() < FRAME_HEADER_LEN + length {
                return Ok(None);
            }
            input.advance(FRAME_HEADER_LEN);
            return Ok(Some(input.split_to(length).freeze()));
        }
    }

    /// Frames of length 0 skipped so far.
    pub fn empty_frames(&self) -> u64 {
        self.empty_frames
    }
}

/// Writes `packet` as one RFC 4571 frame: its length (16-bit big-endian), then its bytes.
/// Nothing is written when it is longer than [`MAX_FRAME_LEN`].
pub fn encode_frame(packet: &[u8], out: &mut impl BufMut) -> Result<(), RtpError> {
    let len =
        u16::try_from(packet.len()).map_err(|_| RtpError::FrameTooLong { len: packet.len() })?;
    out.put_u16(len);
    out.put_slice(packet);
    Ok(())
}

/// Window of [`Reorder::new`] suggested for GB28181 cameras: 32 packets is about 45 KiB of
/// 1400-byte packets, 10–100 ms of a 4–30 Mbit/s stream.
pub const DEFAULT_WINDOW: usize = 32;
/// Smallest window: with 1 every loss would be a reset.
pub const MIN_WINDOW: usize = 2;
/// Largest window. The window is our configuration, not the peer's, but it sizes what we hold:
/// at most `window` packets, i.e. `window × 1.5 KiB` over UDP and, worst case,
/// `window × 64 KiB` over TCP (RFC 4571 frames).
pub const MAX_WINDOW: usize = 512;
/// How many delivered sequence numbers behind the delivery point are remembered, to tell a
/// duplicate from a packet that arrives after it was given up as lost.
const HISTORY_BITS: usize = u64::BITS as usize;

/// What [`Reorder::pop`] releases, in sequence order.
#[derive(Debug, Clone, PartialEq)]
pub enum Popped {
    Packet(RtpPacket),
    /// A discontinuity before the next packet. `count > 0`: that many sequence numbers were
    /// given up as lost. `count == 0`: the sequence numbers jumped by more than the window
    /// (a reset: a camera restart or a burst loss of unknown size).
    Lost {
        count: u16,
    },
}

/// Counters of [`Reorder`]; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Dropped: a packet already held, or delivered within the last 64 sequence numbers.
    pub duplicates: u64,
    /// Sequence numbers released as `Lost { count }` (the sum of the counts; resets excluded).
    pub lost: u64,
    /// Packets that arrived after a later one and were put back in order.
    pub reordered: u64,
    /// Jumps of more than the window, confirmed by a second packet (see [`Reorder::push`]).
    pub resets: u64,
    /// Dropped: arrived behind the delivery point after its number was given up as lost, or a
    /// lone out-of-window packet that no second packet confirmed.
    pub late: u64,
}

/// Puts RTP packets back in sequence order within a window of `window` sequence numbers and
/// reports what is missing. Sequence numbers are compared modulo 2^16, so 65535 → 0 is just the
/// next packet.
///
/// Use: after each [`Reorder::push`], [`Reorder::pop`] until `None`. On a quiet stream, call
/// [`Reorder::flush`] from a timer so a gap does not hold packets back for ever.
///
/// A gap is waited for until a packet `window - 1` numbers after the delivery point arrives;
/// then the gap is released as [`Popped::Lost`] and the packets behind it follow.
///
/// A packet more than the window away (ahead, or behind) is held as a reset candidate; a second
/// such packet within the window of the first confirms the jump: everything held is released
/// (gaps as `Lost`), then `Lost { count: 0 }`, then the new sequence starts at the earlier of
/// the two. A candidate that no second packet confirms is dropped when the old sequence goes
/// on (a stray). One stray packet can therefore not derail the stream.
///
/// Memory: at most `window` packets held, plus what `pop` has not yet taken (at most about
/// `2 × window + 2` entries per `push` when the caller does not drain).
#[derive(Debug)]
pub struct Reorder {
    window: usize,
    /// `slots[i]` holds sequence number `expected + i`. Empty, or its last slot is `Some`.
    slots: VecDeque<Option<RtpPacket>>,
    /// Next sequence number to deliver; `None` before the first packet.
    expected: Option<u16>,
    /// Bit `i` set: `expected - 1 - i` was delivered (not lost).
    history: u64,
    /// An out-of-window packet waiting for a second to confirm a reset.
    candidate: Option<RtpPacket>,
    /// Released and not yet popped.
    ready: VecDeque<Popped>,
    stats: ReorderStats,
}

impl Default for Reorder {
    fn default() -> Self {
        Reorder::new(DEFAULT_WINDOW)
    }
}

impl Reorder {
    /// `window` is clamped to [`MIN_WINDOW`]`..=`[`MAX_WINDOW`].
    pub fn new(window: usize) -> Self {
        Reorder {
            window: window.clamp(MIN_WINDOW, MAX_WINDOW),
            slots: VecDeque::new(),
            expected: None,
            history: 0,
            candidate: None,
            ready: VecDeque::new(),
            stats: ReorderStats::default(),
        }
    }

    /// The window in use (after clamping).
    pub fn window(&self) -> usize {
        self.window
    }

    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Packets held waiting for a gap (not counting released ones or a reset candidate).
    pub fn held(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }

    /// Takes one packet in; see the type's documentation for what happens to it.
    pub fn push(&mut self, p: RtpPacket) {
        let Some(expected) = self.expected else {
            self.start(p);
            return;
        };
        let ahead = usize::from(p.sequence.wrapping_sub(expected));
        if ahead < self.window {
            if self.candidate.take().is_some() {
                self.stats.late += 1;
            }
            self.insert(ahead, p);
            return;
        }
        if ahead < 2 * self.window {
            // A little past the window: the stream moved on (the gaps in front will not be
            // filled now). Slide the window so this packet takes its last slot.
            if self.candidate.take().is_some() {
                self.stats.late += 1;
            }
            self.slide(ahead + 1 - self.window);
            self.insert(self.window - 1, p);
            return;
        }
        let behind = usize::from(expected.wrapping_sub(p.sequence));
        if behind <= self.window {
            if behind <= HISTORY_BITS && self.history & (1 << (behind - 1)) != 0 {
                self.stats.duplicates += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        }
        let Some(candidate) = self.candidate.take() else {
            self.candidate = Some(p);
            return;
        };
        let forward = usize::from(p.sequence.wrapping_sub(candidate.sequence));
        let backward = usize::from(candidate.sequence.wrapping_sub(p.sequence));
        if forward == 0 {
            self.stats.duplicates += 1;
            self.candidate = Some(candidate);
        } else if forward < self.window {
            self.reset(candidate, forward, p);
        } else if backward < self.window {
            self.reset(p, backward, candidate);
        } else {
            self.stats.late += 1;
            self.candidate = Some(p);
        }
    }

    /// The next packet or loss in sequence order; `None` while waiting for a gap (or empty).
    pub fn pop(&mut self) -> Option<Popped> {
        if let Some(popped) = self.ready.pop_front() {
            return Some(popped);
        }
        match self.slots.front()? {
            Some(_) => {
                let p = self.slots.pop_front().flatten()?;
                self.advance_delivered();
                Some(Popped::Packet(p))
            }
            None if self.slots.len() >= self.window => {
                let count = self.slots.iter().take_while(|slot| slot.is_none()).count();
                self.slots.drain(..count);
                Some(self.advance_lost(count))
            }
            None => None,
        }
    }

    /// Gives up on every gap now: everything held becomes ready for [`Reorder::pop`] (gaps as
    /// `Lost`), and later packets continue the same sequence. Returns how many entries `pop`
    /// now has ready. A pending reset candidate stays pending.
    pub fn flush(&mut self) -> usize {
        let mut gap = 0;
        while let Some(slot) = self.slots.pop_front() {
            match slot {
                None => gap += 1,
                Some(p) => {
                    if gap > 0 {
                        let lost = self.advance_lost(gap);
                        self.ready.push_back(lost);
                        gap = 0;
                    }
                    self.advance_delivered();
                    self.ready.push_back(Popped::Packet(p));
                }
            }
        }
        self.ready.len()
    }

    fn start(&mut self, p: RtpPacket) {
        self.expected = Some(p.sequence);
        self.history = 0;
        self.slots.clear();
        self.slots.push_back(Some(p));
    }

    /// Holds `p` at `ahead < window` slots past the delivery point.
    fn insert(&mut self, ahead: usize, p: RtpPacket) {
        if let Some(slot) = self.slots.get_mut(ahead) {
            if slot.is_some() {
                self.stats.duplicates += 1;
            } else {
                // The last slot is always filled, so a later packet is already here.
                self.stats.reordered += 1;
                *slot = Some(p);
            }
            return;
        }
        self.slots.resize(ahead, None);
        self.slots.push_back(Some(p));
    }

    /// A confirmed jump: release what is held, mark the discontinuity, restart at `first` with
    /// `second` `ahead` numbers later.
    fn reset(&mut self, first: RtpPacket, ahead: usize, second: RtpPacket) {
        self.flush();
        self.ready.push_back(Popped::Lost { count: 0 });
        self.stats.resets += 1;
        self.start(first);
        self.insert(ahead, second);
    }

    /// Releases the first `n` sequence numbers (held packets, and gaps as `Lost`) to `ready`.
    fn slide(&mut self, n: usize) {
        let mut gap = 0usize;
        for _ in 0..n {
            match self.slots.pop_front().flatten() {
                Some(packet) => {
                    if gap > 0 {
                        let lost = self.advance_lost(gap);
                        self.ready.push_back(lost);
                        gap = 0;
                    }
                    self.advance_delivered();
                    self.ready.push_back(Popped::Packet(packet));
                }
                None => gap += 1,
            }
        }
        if gap > 0 {
            let lost = self.advance_lost(gap);
            self.ready.push_back(lost);
        }
    }

    fn advance_delivered(&mut self) {
        if let Some(expected) = &mut self.expected {
            *expected = expected.wrapping_add(1);
        }
        self.history = (self.history << 1) | 1;
    }

    /// Gives up `count` (< window) sequence numbers at the delivery point.
    fn advance_lost(&mut self, count: usize) -> Popped {
        // count < window ≤ MAX_WINDOW, so it fits u16 and u32.
        let count16 = count as u16;
        if let Some(expected) = &mut self.expected {
            *expected = expected.wrapping_add(count16);
        }
        self.history = self.history.checked_shl(count as u32).unwrap_or(0);
        self.stats.lost += count as u64;
        Popped::Lost { count: count16 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal packet: V=2, PT 96, seq 0x1234, ts 0xdeadbeef, SSRC 0x0bebc201 (GB28181
    /// SSRC 0200000001 as a number), payload "PS".
    const PLAIN: &[u8] = b"\x80\x60\x12\x34\xde\xad\xbe\xef\x0b\xeb\xc2\x01PS";
    /// Marker set, 2 CSRCs (CC=2), payload 00 00 01 BA.
    const WITH_CSRC: &[u8] = b"\x82\xe0\x00\x01\x00\x00\x00\x64\x00\x00\x00\x01\
        \x11\x11\x11\x11\x22\x22\x22\x22\
        \x00\x00\x01\xba";
    /// X bit: extension profile 0xBEDE with 1 word, payload "AB".
    const WITH_EXTENSION: &[u8] = b"\x90\x60\xff\xff\x00\x00\x00\x00\x00\x00\x00\x02\
        \xbe\xde\x00\x01\x10\xaa\x00\x00\
        AB";
    /// P bit: payload "xyz" then 3 bytes of padding (pad count 3 includes itself).
    const WITH_PADDING: &[u8] = b"\xa0\x60\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03xyz\x00\x00\x03";
    /// Everything at once: P, X, CC=1; payload "Z", 2 bytes of padding.
    const WITH_ALL: &[u8] = b"\xb1\x08\x00\x03\x00\x00\x00\x01\x00\x00\x00\x04\
        \xca\xfe\xba\xbe\
        \x00\x01\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08\
        Z\x00\x02";

    fn decode(bytes: &[u8]) -> Result<RtpPacket, RtpError> {
        RtpPacket::decode(Bytes::copy_from_slice(bytes))
    }

    fn packet(sequence: u16) -> RtpPacket {
        RtpPacket {
            marker: false,
            payload_type: 96,
            sequence,
            timestamp: u32::from(sequence) * 3600,
            ssrc: 200_000_001,
            payload: Bytes::copy_from_slice(&sequence.to_be_bytes()),
        }
    }

    #[test]
    fn golden_plain() {
        let p = decode(PLAIN).unwrap();
        assert_eq!(
            p,
            RtpPacket {
                marker: false,
                payload_type: 96,
                sequence: 0x1234,
                timestamp: 0xdead_beef,
                ssrc: 200_000_001,
                payload: Bytes::from_static(b"PS"),
            }
        );
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, PLAIN);
        assert_eq!(p.encoded_len(), PLAIN.len());
    }

    #[test]
    fn golden_csrc_extension_padding() {
        let p = decode(WITH_CSRC).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (96, 1, 100, 1)
        );
        assert_eq!(&p.payload[..], b"\x00\x00\x01\xba");

        let p = decode(WITH_EXTENSION).unwrap();
        assert_eq!((p.sequence, p.ssrc), (0xffff, 2));
        assert_eq!(&p.payload[..], b"AB");

        let p = decode(WITH_PADDING).unwrap();
        assert_eq!(&p.payload[..], b"xyz");

        let p = decode(WITH_ALL).unwrap();
        assert_eq!((p.payload_type, p.sequence, p.ssrc), (8, 3, 4));
        assert_eq!(&p.payload[..], b"Z");

        // Re-encoding drops CSRC, extension and padding.
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, b"\x80\x08\x00\x03\x00\x00\x00\x01\x00\x00\x00\x04Z");
    }

    #[test]
    fn payload_may_be_empty() {
        let p = decode(&PLAIN[..FIXED_HEADER_LEN]).unwrap();
        assert!(p.payload.is_empty());
        // Padding that eats the whole payload.
        let p = decode(b"\xa0\x60\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x02").unwrap();
        assert!(p.payload.is_empty());
    }

    #[test]
    fn truncations_are_errors() {
        for (name, golden) in [
            ("plain", PLAIN),
            ("csrc", WITH_CSRC),
            ("extension", WITH_EXTENSION),
            ("padding", WITH_PADDING),
            ("all", WITH_ALL),
        ] {
            for cut in 0..FIXED_HEADER_LEN {
                assert_eq!(
                    decode(&golden[..cut]),
                    Err(RtpError::TooShort { len: cut }),
                    "{name}"
                );
            }
            // Cuts inside the CSRC list or the extension.
            for cut in FIXED_HEADER_LEN..golden.len() {
                let r = decode(&golden[..cut]);
                if (name == "csrc" || name == "extension") && cut < 20 {
                    assert!(
                        matches!(r, Err(RtpError::Truncated { .. })),
                        "{name} {cut}: {r:?}"
                    );
                }
            }
        }
        assert_eq!(
            decode(&WITH_CSRC[..19]),
            Err(RtpError::Truncated {
                needed: 20,
                len: 19
            })
        );
        assert_eq!(
            decode(&WITH_EXTENSION[..15]),
            Err(RtpError::Truncated {
                needed: 16,
                len: 15
            })
        );
        assert_eq!(
            decode(&WITH_EXTENSION[..19]),
            Err(RtpError::Truncated {
                needed: 20,
                len: 19
            })
        );
        // A padded packet cut so the last byte is not the pad count.
        assert_eq!(
            decode(&WITH_PADDING[..16]),
            Err(RtpError::BadPadding {
                count: 0,
                available: 4
            })
        );
    }

    #[test]
    fn rtcp_is_told_apart() {
        // Receiver report (PT 201) and sender report (PT 200), as cameras send them.
        assert!(is_rtcp(b"\x81\xc9\x00\x07"));
        assert!(is_rtcp(b"\x80\xc8\x00\x06"));
        assert!(!is_rtcp(PLAIN));
        assert!(!is_rtcp(WITH_CSRC));
        assert!(!is_rtcp(b"\x80"));
    }

    #[test]
    fn bad_version_and_padding() {
        let mut v1 = PLAIN.to_vec();
        v1[0] = 0x40;
        assert_eq!(decode(&v1), Err(RtpError::BadVersion { version: 1 }));
        // Pad count larger than what follows the header.
        assert_eq!(
            decode(b"\xa0\x60\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03ab\x04"),
            Err(RtpError::BadPadding {
                count: 4,
                available: 3
            })
        );
        // P bit with a header and nothing else: the "pad count" would be a header byte.
        let mut padded = PLAIN[..FIXED_HEADER_LEN].to_vec();
        padded[0] |= PADDING_BIT;
        assert_eq!(
            decode(&padded),
            Err(RtpError::BadPadding {
                count: 0x01,
                available: 0
            })
        );
    }

    /// Two frames, an empty frame between them (skipped).
    fn framed_stream() -> Vec<u8> {
        let mut stream = Vec::new();
        encode_frame(PLAIN, &mut stream).unwrap();
        stream.extend_from_slice(&[0, 0]);
        encode_frame(WITH_ALL, &mut stream).unwrap();
        stream
    }

    #[test]
    fn frame_golden() {
        let mut out = Vec::new();
        encode_frame(PLAIN, &mut out).unwrap();
        assert_eq!(&out[..2], &[0x00, 0x0e]);
        assert_eq!(&out[2..], PLAIN);
        assert_eq!(
            encode_frame(&vec![0x80; MAX_FRAME_LEN + 1], &mut out),
            Err(RtpError::FrameTooLong {
                len: MAX_FRAME_LEN + 1
            })
        );
        assert_eq!(out.len(), 2 + PLAIN.len());
    }

    #[test]
    fn frame_decoder_cut_at_every_byte() {
        let stream = framed_stream();
        for split in 0..=stream.len() {
            let mut decoder = FrameDecoder::new();
            let mut input = BytesMut::new();
            let mut frames = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                input.extend_from_slice(part);
                while let Some(frame) = decoder.decode(&mut input).unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames, [PLAIN, WITH_ALL], "split at {split}");
            assert!(input.is_empty());
            assert_eq!(decoder.empty_frames(), 1);
        }
        // Byte by byte.
        let mut decoder = FrameDecoder::new();
        let mut input = BytesMut::new();
        let mut frames = Vec::new();
        for &b in &stream {
            input.extend_from_slice(&[b]);
            while let Some(frame) = decoder.decode(&mut input).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, [PLAIN, WITH_ALL]);
    }

    #[test]
    fn frame_decoder_desync() {
        // Raw PS without RFC 4571 framing: "00 00" is an empty frame, then "01 BA" is a length
        // of 442 followed by a non-RTP byte.
        let mut input = BytesMut::from(&b"\x00\x00\x01\xba\x44\x00\x04"[..]);
        let mut decoder = FrameDecoder::new();
        let err = decoder.decode(&mut input).unwrap_err();
        assert_eq!(
            err,
            RtpError::FrameDesync {
                first_byte: 0x44,
                length: 442
            }
        );
        assert_eq!(decoder.decode(&mut input), Err(err));
        assert_eq!(decoder.empty_frames(), 1);
    }

    /// ICE-TCP: a STUN binding request (first byte 0x00) and a DTLS record (0x16) pass, cut
    /// at every byte; a length over the limit fails as soon as it is read.
    #[test]
    fn any_payload_frames_and_their_limit() {
        let stun = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        let dtls = [0x16, 0xfe, 0xfd, 0x00];
        let mut stream = Vec::new();
        encode_frame(&stun, &mut stream).unwrap();
        encode_frame(&dtls, &mut stream).unwrap();
        for split in 0..=stream.len() {
            let mut decoder = FrameDecoder::any_payload(8);
            let mut input = BytesMut::new();
            let mut frames = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                input.extend_from_slice(part);
                while let Some(frame) = decoder.decode(&mut input).unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames, [&stun[..], &dtls[..]], "split at {split}");
        }
        let mut decoder = FrameDecoder::any_payload(8);
        let mut input = BytesMut::from(&[0x00, 0x09][..]);
        let err = RtpError::FrameOversize { length: 9, max: 8 };
        assert_eq!(decoder.decode(&mut input), Err(err));
        assert_eq!(decoder.decode(&mut input), Err(err));
        // The RTP decoder still refuses the STUN frame.
        let mut input = BytesMut::from(&stream[..]);
        assert!(FrameDecoder::new().decode(&mut input).is_err());
    }

    fn drain(r: &mut Reorder) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(p) = r.pop() {
            out.push(match p {
                Popped::Packet(p) => {
                    assert_eq!(&p.payload[..], &p.sequence.to_be_bytes());
                    p.sequence.to_string()
                }
                Popped::Lost { count } => format!("lost{count}"),
            });
        }
        out
    }

    fn run(r: &mut Reorder, seqs: &[u16]) -> Vec<String> {
        let mut out = Vec::new();
        for &s in seqs {
            r.push(packet(s));
            out.extend(drain(r));
        }
        out
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reorder_in_order() {
        let mut r = Reorder::default();
        let seqs: Vec<u16> = (100..200).collect();
        let out = run(&mut r, &seqs);
        assert_eq!(out, seqs.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(r.stats(), ReorderStats::default());
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn reorder_swapped_pairs() {
        let mut r = Reorder::default();
        assert_eq!(
            run(&mut r, &[0, 2, 1, 4, 3, 5]),
            strings(&["0", "1", "2", "3", "4", "5"])
        );
        assert_eq!(r.stats().reordered, 2);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn reorder_duplicates() {
        let mut r = Reorder::default();
        // 1 again after delivery, 3 again while held.
        assert_eq!(
            run(&mut r, &[0, 1, 1, 3, 3, 2, 0]),
            strings(&["0", "1", "2", "3"])
        );
        assert_eq!(r.stats().duplicates, 3);
        assert_eq!(r.stats().late, 0);
    }

    #[test]
    fn reorder_gap_filled_late() {
        let mut r = Reorder::new(8);
        let out = run(&mut r, &[10, 12, 13, 14, 15, 16, 11, 17]);
        assert_eq!(
            out,
            strings(&["10", "11", "12", "13", "14", "15", "16", "17"])
        );
        assert_eq!(r.stats().reordered, 1);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn reorder_gap_never_filled() {
        let mut r = Reorder::new(4);
        assert_eq!(run(&mut r, &[10, 12, 13]), strings(&["10"]));
        assert_eq!(r.held(), 2);
        // 14 spans the window (11..=14): 11 is given up.
        assert_eq!(run(&mut r, &[14]), strings(&["lost1", "12", "13", "14"]));
        // 11 arrives after all: late, dropped.
        assert_eq!(run(&mut r, &[11, 15]), strings(&["15"]));
        // Two missing in a row.
        assert_eq!(run(&mut r, &[18, 19]), strings(&["lost2", "18", "19"]));
        let stats = r.stats();
        assert_eq!((stats.lost, stats.late, stats.resets), (3, 1, 0));
    }

    #[test]
    fn reorder_wraps() {
        let mut r = Reorder::default();
        let out = run(&mut r, &[65533, 65535, 65534, 1, 0, 2]);
        assert_eq!(out, strings(&["65533", "65534", "65535", "0", "1", "2"]));
        assert_eq!(r.stats().reordered, 2);
        // Duplicate across the wrap.
        run(&mut r, &[65535]);
        assert_eq!(r.stats().duplicates, 1);
    }

    #[test]
    fn reorder_jump_resets() {
        let mut r = Reorder::default();
        assert_eq!(run(&mut r, &[10, 11, 5000]), strings(&["10", "11"]));
        assert_eq!(
            run(&mut r, &[5001, 5002]),
            strings(&["lost0", "5000", "5001", "5002"])
        );
        assert_eq!(r.stats().resets, 1);
        assert_eq!(r.stats().lost, 0);
        // Camera restart backwards, second packet first: held gap released before the reset.
        assert_eq!(
            run(&mut r, &[5004, 7, 6, 8]),
            strings(&["lost1", "5004", "lost0", "6", "7", "8"])
        );
        assert_eq!(r.stats().resets, 2);
    }

    #[test]
    fn reorder_stray_does_not_reset() {
        let mut r = Reorder::default();
        assert_eq!(
            run(&mut r, &[10, 11, 40000, 12, 13]),
            strings(&["10", "11", "12", "13"])
        );
        assert_eq!(r.stats().resets, 0);
        assert_eq!(r.stats().late, 1);
    }

    #[test]
    fn reorder_flush() {
        let mut r = Reorder::default();
        assert_eq!(run(&mut r, &[1, 3, 6]), strings(&["1"]));
        assert_eq!(r.flush(), 4);
        assert_eq!(drain(&mut r), strings(&["lost1", "3", "lost2", "6"]));
        // The sequence goes on after a flush.
        assert_eq!(run(&mut r, &[7, 5]), strings(&["7"]));
        assert_eq!(r.stats().late, 1);
        assert_eq!(r.flush(), 0);
    }

    #[test]
    fn reorder_window_is_clamped() {
        assert_eq!(Reorder::new(0).window(), MIN_WINDOW);
        assert_eq!(Reorder::new(usize::MAX).window(), MAX_WINDOW);
    }

    use crate::testutil::XorShift as Rng;

    #[test]
    fn fuzz_decode_no_panic() {
        let seeds = [PLAIN, WITH_CSRC, WITH_EXTENSION, WITH_PADDING, WITH_ALL];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut input = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(input.len());
                input[at] = if rng.below(2) == 0 {
                    rng.next() as u8
                } else {
                    rng.below(8) as u8
                };
            }
            input.truncate(rng.below(input.len() + 1));
            if let Ok(p) = decode(&input) {
                assert!(p.payload.len() + FIXED_HEADER_LEN <= input.len());
                let mut out = Vec::new();
                p.encode(&mut out);
                assert_eq!(decode(&out).unwrap(), p);
                decoded += 1;
            }
            let mut stream = BytesMut::from(&input[..]);
            let mut framer = FrameDecoder::new();
            while let Ok(Some(frame)) = framer.decode(&mut stream) {
                let _ = RtpPacket::decode(frame);
            }
        }
        assert!(decoded > 2_000, "{decoded}");
    }

    /// Random arrival orders: delivered packets plus reported losses account for every
    /// sequence number between resets, in order, and nothing is held for ever.
    #[test]
    fn fuzz_reorder_accounts_for_every_number() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let mut r = Reorder::new(2 + rng.below(40));
            let mut next: u16 = rng.next() as u16;
            let mut expected: Option<u16> = None;
            let mut pending_reset = false;
            for _ in 0..400 {
                let seq = match rng.below(20) {
                    0 => rng.next() as u16,
                    1 => next.wrapping_sub(rng.below(80) as u16),
                    2 | 3 => next.wrapping_add(rng.below(50) as u16),
                    _ => next,
                };
                next = seq.wrapping_add(1);
                r.push(packet(seq));
                if rng.below(30) == 0 {
                    r.flush();
                }
                assert!(r.held() <= r.window());
                while let Some(popped) = r.pop() {
                    match popped {
                        Popped::Lost { count: 0 } => pending_reset = true,
                        Popped::Lost { count } => {
                            let e = expected.expect("loss before any packet");
                            expected = Some(e.wrapping_add(count));
                        }
                        Popped::Packet(p) => {
                            if let (Some(e), false) = (expected, pending_reset) {
                                assert_eq!(p.sequence, e, "round {round}");
                            }
                            pending_reset = false;
                            expected = Some(p.sequence.wrapping_add(1));
                        }
                    }
                }
            }
            r.flush();
            while r.pop().is_some() {}
            assert_eq!(r.held(), 0);
        }
    }

    /// Found by the GB28181 lossy-UDP test: a packet just past the window while a gap is
    /// waited for continues the stream; it must not be taken for a reset and dropped.
    #[test]
    fn a_packet_past_the_window_slides_it_instead_of_being_dropped() {
        let mut r = Reorder::new(4);
        let mut got = Vec::new();
        for seq in [0u16, 2, 3, 5, 4, 6, 7, 8, 9] {
            r.push(RtpPacket {
                marker: false,
                payload_type: 96,
                sequence: seq,
                timestamp: 0,
                ssrc: 1,
                payload: bytes::Bytes::new(),
            });
            while let Some(p) = r.pop() {
                got.push(match p {
                    Popped::Packet(p) => format!("{}", p.sequence),
                    Popped::Lost { count } => format!("lost{count}"),
                });
            }
        }
        r.flush();
        while let Some(p) = r.pop() {
            got.push(match p {
                Popped::Packet(p) => format!("{}", p.sequence),
                Popped::Lost { count } => format!("lost{count}"),
            });
        }
        assert_eq!(got, ["0", "lost1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        assert_eq!(r.stats().late, 0);
    }
}
