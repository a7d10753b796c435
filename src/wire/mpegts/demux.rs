//! The demuxer: transport packets in, PES packets of the first program out.
//!
//! State machine per PID we know (PAT, the PMT named by the PAT, the elementary streams the
//! PMT lists): a continuity counter, and an assembly buffer that is *idle* until a packet
//! with payload_unit_start_indicator opens it, *collecting* until the next start (or, for a
//! PES with a PES_packet_length, until that length is reached), then emitted and idle again.
//! A continuity error drops what was being collected. Packets of other PIDs are ignored.
//!
//! Sync (2.4.3.2, 0x47 every 188 bytes): a packet is read when it starts with the sync byte
//! and the byte 188 further on, if already pushed, is one too; otherwise the demuxer skips
//! to the next such position. A torn packet is thus dropped rather than read across into
//! its neighbour.
//!
//! Faults never stop the demuxer: each is counted in [`DemuxStats`], and [`Demuxer::push`]
//! returns the first one seen in that call as a report. Memory is bounded: at most
//! [`MAX_STREAMS`] × [`MAX_PES_SIZE`] bytes of PES being assembled (32 MiB worst case), two
//! section buffers of 1 KiB, one partial packet, plus the [`Pes`] queue, which only holds
//! bytes the caller pushed and is emptied by [`Demuxer::poll`].

use std::collections::VecDeque;

use bytes::Bytes;

use super::pes;
use super::psi::{self, SectionFault, MAX_SECTION_LENGTH, SECTION_HEADER_LEN};
use super::{HEADER_LEN, NULL_PID, PACKET_LEN, PAT_PID, SYNC_BYTE};
use crate::wire::cursor::u16_at;

/// Largest PES the demuxer assembles. A 4K HEVC keyframe at 20 Mbit/s is about 1-2 MiB;
/// anything larger is taken to be garbage and dropped.
pub const MAX_PES_SIZE: usize = 4 << 20;
/// Most elementary streams followed in one PMT; a live stream has one video and one audio,
/// the rest is headroom for data and subtitle PIDs. Extra entries are ignored.
pub const MAX_STREAMS: usize = 8;

/// A section is at most 3 + 1021 bytes (2.4.4.5, 2.4.4.9).
const MAX_SECTION_BYTES: usize = SECTION_HEADER_LEN + MAX_SECTION_LENGTH;
/// Longest adaptation field in a packet with payload, and in one without (2.4.3.5).
const MAX_AF_WITH_PAYLOAD: usize = 182;
const MAX_AF_ALONE: usize = 183;
/// Fill byte after the last section in a PSI packet.
const SECTION_STUFFING: u8 = 0xFF;

/// One reassembled PES packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    pub pid: u16,
    /// The PMT's stream_type byte; see [`super::StreamType::from_code`].
    pub stream_type: u8,
    /// 90 kHz, 33 bits. `dts` is `None` when the header has only a PTS (then DTS = PTS).
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// random_access_indicator of the packet that started this PES.
    pub random_access: bool,
    /// PCR of the packet that started this PES, in 27 MHz units (base × 300 + extension).
    pub pcr: Option<u64>,
    /// The elementary stream bytes after the PES header.
    pub data: Bytes,
}

/// Counters of what the demuxer saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemuxStats {
    /// Transport packets read (every PID).
    pub packets: u64,
    /// PES packets queued.
    pub pes: u64,
    /// Times the sync byte was lost, and bytes skipped to find it again.
    pub sync_losses: u64,
    pub skipped_bytes: u64,
    /// Continuity counter jumps on a followed PID (duplicates are not errors).
    pub cc_errors: u64,
    /// PSI sections with a bad CRC_32.
    pub crc_errors: u64,
    /// Everything else: transport_error_indicator, bad adaptation fields, scrambling,
    /// malformed sections or PES headers, oversized PES, too many streams.
    pub other_errors: u64,
}

/// A fault in the input, at the byte `offset` (from the first byte ever pushed) of the packet
/// or skipped run it concerns. It spoils at most the PES or section it falls in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MPEG-TS at byte {offset}: {kind}")]
pub struct TsError {
    pub offset: u64,
    pub kind: TsErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TsErrorKind {
    #[error("lost sync, skipped {skipped} bytes to the next 0x47")]
    SyncLost { skipped: usize },
    #[error("PID {pid:#06x}: transport_error_indicator set")]
    TransportError { pid: u16 },
    #[error("PID {pid:#06x}: continuity_counter {got}, expected {expected}")]
    Continuity { pid: u16, expected: u8, got: u8 },
    #[error("PID {pid:#06x}: {reason}")]
    Packet { pid: u16, reason: &'static str },
    #[error("PID {pid:#06x}: section CRC_32 mismatch")]
    Crc { pid: u16 },
    #[error("PID {pid:#06x}: bad section: {reason}")]
    Section { pid: u16, reason: &'static str },
    #[error("PID {pid:#06x}: bad PES: {reason}")]
    Pes { pid: u16, reason: &'static str },
    #[error("PID {pid:#06x}: PES over {MAX_PES_SIZE} bytes dropped")]
    PesTooLarge { pid: u16 },
    #[error("PMT lists more than {MAX_STREAMS} streams; {dropped} ignored")]
    TooManyStreams { dropped: usize },
}

/// Section assembly of one PSI PID.
#[derive(Default)]
struct Psi {
    cc: Option<u8>,
    /// The section being collected; at most [`MAX_SECTION_BYTES`].
    buf: Vec<u8>,
    /// Collecting since a payload_unit_start_indicator.
    active: bool,
}

impl Psi {
    fn reset(&mut self) {
        self.buf.clear();
        self.active = false;
    }

    /// Feeds one packet payload (2.4.4.1-2: pointer_field on packets that start a section;
    /// several sections may follow each other; 0xFF fills the rest). Complete sections are
    /// appended to `out`.
    fn push(
        &mut self,
        payload: &[u8],
        start: bool,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), &'static str> {
        if start {
            let (&pointer, rest) = payload.split_first().ok_or("no pointer_field")?;
            let pointer = usize::from(pointer);
            if pointer > rest.len() {
                self.reset();
                return Err("pointer_field past the packet");
            }
            let (tail, next) = rest.split_at(pointer);
            let mut result = Ok(());
            if self.active && !self.buf.is_empty() {
                self.consume(tail, out)?;
                if !self.buf.is_empty() {
                    result = Err("section cut short by the next one");
                }
            }
            self.buf.clear();
            self.active = true;
            self.consume(next, out)?;
            return result;
        }
        if self.active {
            self.consume(payload, out)?;
        }
        Ok(())
    }

    fn consume(&mut self, mut data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), &'static str> {
        while self.active && !data.is_empty() {
            if self.buf.is_empty() && data[0] == SECTION_STUFFING {
                // Stuffing: nothing more starts in this packet.
                self.active = false;
                break;
            }
            let want = match self.buf.first_chunk::<SECTION_HEADER_LEN>() {
                Some(head) => SECTION_HEADER_LEN + psi::section_length(head),
                None => SECTION_HEADER_LEN,
            };
            let take = want.saturating_sub(self.buf.len()).min(data.len());
            let (now, rest) = data.split_at(take);
            self.buf.extend_from_slice(now);
            data = rest;
            if let Some(head) = self.buf.first_chunk::<SECTION_HEADER_LEN>() {
                let total = SECTION_HEADER_LEN + psi::section_length(head);
                if total > MAX_SECTION_BYTES {
                    self.reset();
                    return Err("section_length over 1021");
                }
                if self.buf.len() >= total {
                    out.push(std::mem::take(&mut self.buf));
                }
            }
        }
        Ok(())
    }
}

/// Assembly state of one elementary stream.
struct Stream {
    pid: u16,
    stream_type: u8,
    cc: Option<u8>,
    /// The PES being collected; at most [`MAX_PES_SIZE`] bytes of capacity.
    buf: Vec<u8>,
    active: bool,
    random_access: bool,
    pcr: Option<u64>,
}

impl Stream {
    fn new(pid: u16, stream_type: u8) -> Stream {
        Stream {
            pid,
            stream_type,
            cc: None,
            buf: Vec::new(),
            active: false,
            random_access: false,
            pcr: None,
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.active = false;
    }
}

#[derive(Clone, Copy)]
enum Target {
    Pat,
    Pmt,
    Stream(usize),
}

/// What the adaptation field said.
#[derive(Default, Clone, Copy)]
struct AdaptationInfo {
    discontinuity: bool,
    random_access: bool,
    pcr: Option<u64>,
}

enum CcCheck {
    Ok,
    Duplicate,
    Lost { expected: u8 },
}

/// 2.4.3.3: the counter increments by one per packet with payload, and must not increment
/// on packets without; one duplicate packet may follow the original; discontinuity_indicator
/// allows any value.
fn check_cc(last: &mut Option<u8>, cc: u8, has_payload: bool, discontinuity: bool) -> CcCheck {
    if discontinuity {
        *last = has_payload.then_some(cc);
        return CcCheck::Ok;
    }
    if !has_payload {
        return CcCheck::Ok;
    }
    let Some(prev) = *last else {
        *last = Some(cc);
        return CcCheck::Ok;
    };
    let expected = (prev + 1) & 0x0F;
    if cc == prev {
        CcCheck::Duplicate
    } else {
        *last = Some(cc);
        if cc == expected {
            CcCheck::Ok
        } else {
            CcCheck::Lost { expected }
        }
    }
}

/// program_clock_reference (2.4.3.5) in 27 MHz units.
fn decode_pcr(b: &[u8; 6]) -> u64 {
    let base = u64::from(b[0]) << 25
        | u64::from(b[1]) << 17
        | u64::from(b[2]) << 9
        | u64::from(b[3]) << 1
        | u64::from(b[4] >> 7);
    let extension = u64::from(b[4] & 0x01) << 8 | u64::from(b[5]);
    base * 300 + extension
}

/// A single-program transport stream demuxer; see the module documentation.
pub struct Demuxer {
    /// The start of a packet cut by the end of the last push.
    partial: [u8; PACKET_LEN],
    partial_len: usize,
    /// Stream offset of the next byte pushed.
    offset: u64,
    pat: Psi,
    pmt_pid: Option<u16>,
    pmt: Psi,
    pcr_pid: Option<u16>,
    /// At most [`MAX_STREAMS`].
    streams: Vec<Stream>,
    queue: VecDeque<Pes>,
    stats: DemuxStats,
    /// First fault of the current `push`/`flush`.
    first_error: Option<TsError>,
}

impl Default for Demuxer {
    fn default() -> Self {
        Demuxer::new()
    }
}

impl Demuxer {
    pub fn new() -> Demuxer {
        Demuxer {
            partial: [0; PACKET_LEN],
            partial_len: 0,
            offset: 0,
            pat: Psi::default(),
            pmt_pid: None,
            pmt: Psi::default(),
            pcr_pid: None,
            streams: Vec::new(),
            queue: VecDeque::new(),
            stats: DemuxStats::default(),
            first_error: None,
        }
    }

    /// Reads any number of bytes, cut anywhere. Complete PES packets become available to
    /// [`Demuxer::poll`]. Returns the first fault found in these bytes, if any; the demuxer
    /// has already recovered from it (and counted it) and can be fed on.
    pub fn push(&mut self, mut input: &[u8]) -> Result<(), TsError> {
        if self.partial_len > 0 {
            let take = (PACKET_LEN - self.partial_len).min(input.len());
            let (now, rest) = input.split_at(take);
            let at = self.offset - self.partial_len as u64;
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(now);
            self.partial_len += take;
            self.offset += take as u64;
            input = rest;
            if self.partial_len == PACKET_LEN {
                self.partial_len = 0;
                let packet = self.partial;
                self.handle_packet(&packet, at);
            }
        }
        while let Some(&first) = input.first() {
            // A packet is taken when it starts with the sync byte and so does the next one
            // (when the input holds it): a torn packet is skipped, not read across.
            let next = input.get(PACKET_LEN).copied().unwrap_or(SYNC_BYTE);
            if first != SYNC_BYTE || next != SYNC_BYTE {
                let skipped = resync_point(input);
                self.stats.skipped_bytes += skipped as u64;
                self.stats.sync_losses += 1;
                self.fault(self.offset, TsErrorKind::SyncLost { skipped });
                input = &input[skipped..];
                self.offset += skipped as u64;
                continue;
            }
            match input.split_first_chunk::<PACKET_LEN>() {
                Some((packet, rest)) => {
                    self.handle_packet(packet, self.offset);
                    self.offset += PACKET_LEN as u64;
                    input = rest;
                }
                None => {
                    self.partial[..input.len()].copy_from_slice(input);
                    self.partial_len = input.len();
                    self.offset += input.len() as u64;
                    input = &[];
                }
            }
        }
        self.take_error()
    }

    /// Emits every PES still being collected (the last video PES of a stream has no next
    /// start to end it). Call at end of input.
    pub fn flush(&mut self) -> Result<(), TsError> {
        for i in 0..self.streams.len() {
            if self.streams[i].active {
                self.finish_pes(i, self.offset);
            }
        }
        self.take_error()
    }

    /// The next complete PES, in the order they completed.
    pub fn poll(&mut self) -> Option<Pes> {
        self.queue.pop_front()
    }

    pub fn stats(&self) -> &DemuxStats {
        &self.stats
    }

    pub fn cc_errors(&self) -> u64 {
        self.stats.cc_errors
    }

    /// PMT PID of the first program in the last PAT.
    pub fn pmt_pid(&self) -> Option<u16> {
        self.pmt_pid
    }

    /// PCR_PID of the last PMT.
    pub fn pcr_pid(&self) -> Option<u16> {
        self.pcr_pid
    }

    /// `(elementary_PID, stream_type)` of the streams of the last PMT, in PMT order.
    pub fn streams(&self) -> impl Iterator<Item = (u16, u8)> + '_ {
        self.streams.iter().map(|s| (s.pid, s.stream_type))
    }

    fn take_error(&mut self) -> Result<(), TsError> {
        match self.first_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fault(&mut self, offset: u64, kind: TsErrorKind) {
        match kind {
            TsErrorKind::SyncLost { .. } => {}
            TsErrorKind::Continuity { .. } => self.stats.cc_errors += 1,
            TsErrorKind::Crc { .. } => self.stats.crc_errors += 1,
            _ => self.stats.other_errors += 1,
        }
        if self.first_error.is_none() {
            self.first_error = Some(TsError { offset, kind });
        }
    }

    /// One 188-byte packet starting with the sync byte (2.4.3.2).
    fn handle_packet(&mut self, packet: &[u8; PACKET_LEN], offset: u64) {
        self.stats.packets += 1;
        let pid = u16::from_be_bytes([packet[1], packet[2]]) & 0x1FFF;
        if packet[1] & 0x80 != 0 {
            self.fault(offset, TsErrorKind::TransportError { pid });
            return;
        }
        let target = if pid == PAT_PID {
            Target::Pat
        } else if Some(pid) == self.pmt_pid {
            Target::Pmt
        } else if let Some(i) = self.streams.iter().position(|s| s.pid == pid) {
            Target::Stream(i)
        } else {
            return;
        };
        let afc = (packet[3] >> 4) & 0x03;
        let cc = packet[3] & 0x0F;
        if afc == 0 {
            let reason = "adaptation_field_control '00' is reserved";
            self.fault(offset, TsErrorKind::Packet { pid, reason });
            return;
        }
        let has_payload = afc & 0x01 != 0;
        let mut payload_at = HEADER_LEN;
        let mut af = AdaptationInfo::default();
        if afc & 0x02 != 0 {
            let len = usize::from(packet[HEADER_LEN]);
            let max = if has_payload {
                MAX_AF_WITH_PAYLOAD
            } else {
                MAX_AF_ALONE
            };
            if len > max {
                let reason = "adaptation_field_length past the packet";
                self.fault(offset, TsErrorKind::Packet { pid, reason });
                return;
            }
            let field = &packet[HEADER_LEN + 1..HEADER_LEN + 1 + len];
            if let Some((&flags, rest)) = field.split_first() {
                af.discontinuity = flags & 0x80 != 0;
                af.random_access = flags & 0x40 != 0;
                if flags & 0x10 != 0 {
                    af.pcr = rest.first_chunk::<6>().map(decode_pcr);
                }
            }
            payload_at = HEADER_LEN + 1 + len;
        }
        let cc_state = match target {
            Target::Pat => &mut self.pat.cc,
            Target::Pmt => &mut self.pmt.cc,
            Target::Stream(i) => &mut self.streams[i].cc,
        };
        match check_cc(cc_state, cc, has_payload, af.discontinuity) {
            CcCheck::Ok => {}
            CcCheck::Duplicate => return,
            CcCheck::Lost { expected } => {
                match target {
                    Target::Pat => self.pat.reset(),
                    Target::Pmt => self.pmt.reset(),
                    Target::Stream(i) => self.streams[i].reset(),
                }
                let kind = TsErrorKind::Continuity {
                    pid,
                    expected,
                    got: cc,
                };
                self.fault(offset, kind);
            }
        }
        if packet[3] & 0xC0 != 0 {
            let reason = "scrambled";
            self.fault(offset, TsErrorKind::Packet { pid, reason });
            return;
        }
        if !has_payload {
            return;
        }
        let payload = &packet[payload_at..];
        let start = packet[1] & 0x40 != 0;
        match target {
            Target::Pat | Target::Pmt => self.handle_psi(target, pid, payload, start, offset),
            Target::Stream(i) => self.handle_pes(i, payload, start, af, offset),
        }
    }

    fn handle_psi(&mut self, target: Target, pid: u16, payload: &[u8], start: bool, offset: u64) {
        let psi = match target {
            Target::Pmt => &mut self.pmt,
            _ => &mut self.pat,
        };
        let mut sections = Vec::new();
        if let Err(reason) = psi.push(payload, start, &mut sections) {
            self.fault(offset, TsErrorKind::Section { pid, reason });
        }
        for section in sections {
            self.handle_section(pid, &section, offset);
        }
    }

    fn handle_section(&mut self, pid: u16, section: &[u8], offset: u64) {
        let s = match psi::decode_section(section) {
            Ok(s) => s,
            Err(SectionFault::Crc) => return self.fault(offset, TsErrorKind::Crc { pid }),
            Err(SectionFault::Malformed(reason)) => {
                return self.fault(offset, TsErrorKind::Section { pid, reason })
            }
        };
        if !s.current {
            return;
        }
        if pid == PAT_PID && s.table_id == psi::TABLE_PAT {
            match psi::decode_pat(s.body) {
                Ok(Some(pmt_pid)) => self.set_pmt_pid(pmt_pid, offset),
                Ok(None) => {}
                Err(reason) => self.fault(offset, TsErrorKind::Section { pid, reason }),
            }
        } else if Some(pid) == self.pmt_pid && s.table_id == psi::TABLE_PMT {
            match psi::decode_pmt(s.body, MAX_STREAMS) {
                Ok(pmt) => self.set_streams(pmt, offset),
                Err(reason) => self.fault(offset, TsErrorKind::Section { pid, reason }),
            }
        }
    }

    fn set_pmt_pid(&mut self, pmt_pid: u16, offset: u64) {
        if pmt_pid == PAT_PID || pmt_pid == NULL_PID {
            let reason = "PMT on a reserved PID";
            return self.fault(
                offset,
                TsErrorKind::Section {
                    pid: PAT_PID,
                    reason,
                },
            );
        }
        if self.pmt_pid != Some(pmt_pid) {
            self.pmt_pid = Some(pmt_pid);
            self.pmt = Psi::default();
            self.pcr_pid = None;
            self.streams.clear();
        }
    }

    /// Follows the streams of a new PMT, keeping the state of those that did not change.
    fn set_streams(&mut self, pmt: psi::Pmt, offset: u64) {
        let mut streams = Vec::with_capacity(pmt.streams.len());
        for (stream_type, pid) in pmt.streams {
            let reserved = pid == PAT_PID || pid == NULL_PID || Some(pid) == self.pmt_pid;
            if reserved || streams.iter().any(|s: &Stream| s.pid == pid) {
                continue;
            }
            let kept = self
                .streams
                .iter()
                .position(|s| s.pid == pid && s.stream_type == stream_type);
            streams.push(match kept {
                Some(i) => self.streams.swap_remove(i),
                None => Stream::new(pid, stream_type),
            });
        }
        self.streams = streams;
        self.pcr_pid = Some(pmt.pcr_pid);
        if pmt.dropped > 0 {
            let kind = TsErrorKind::TooManyStreams {
                dropped: pmt.dropped,
            };
            self.fault(offset, kind);
        }
    }

    fn handle_pes(
        &mut self,
        i: usize,
        payload: &[u8],
        start: bool,
        af: AdaptationInfo,
        offset: u64,
    ) {
        if start {
            if self.streams[i].active {
                self.finish_pes(i, offset);
            }
            let s = &mut self.streams[i];
            s.buf.clear();
            s.active = true;
            s.random_access = af.random_access;
            s.pcr = af.pcr;
        }
        let s = &mut self.streams[i];
        if !s.active {
            return;
        }
        let needed = s.buf.len() + payload.len();
        if needed > MAX_PES_SIZE {
            let pid = s.pid;
            s.reset();
            s.buf = Vec::new();
            return self.fault(offset, TsErrorKind::PesTooLarge { pid });
        }
        if needed > s.buf.capacity() {
            // Grow by doubling, but never past MAX_PES_SIZE.
            let target = needed.max(2 * s.buf.capacity()).min(MAX_PES_SIZE);
            s.buf.reserve_exact(target - s.buf.len());
        }
        s.buf.extend_from_slice(payload);
        // A PES with a PES_packet_length ends as soon as it is complete (2.4.3.7).
        let declared = u16_at(&s.buf, 4).map_or(0, usize::from);
        if declared != 0 && s.buf.len() >= 6 + declared {
            self.finish_pes(i, offset);
        }
    }

    fn finish_pes(&mut self, i: usize, offset: u64) {
        let s = &mut self.streams[i];
        s.active = false;
        let buf = std::mem::take(&mut s.buf);
        let pid = s.pid;
        match pes::decode(&buf) {
            Ok(parsed) => {
                self.queue.push_back(Pes {
                    pid,
                    stream_type: s.stream_type,
                    pts: parsed.pts,
                    dts: parsed.dts,
                    random_access: s.random_access,
                    pcr: s.pcr,
                    data: Bytes::from(buf).slice(parsed.data),
                });
                self.stats.pes += 1;
            }
            Err(reason) => self.fault(offset, TsErrorKind::Pes { pid, reason }),
        }
    }
}

/// Bytes to skip to the next sync byte that is followed, one packet later, by another (or
/// by the end of the input, which cannot tell). The whole input if there is none.
fn resync_point(input: &[u8]) -> usize {
    (1..input.len())
        .find(|&i| {
            input[i] == SYNC_BYTE && input.get(i + PACKET_LEN).is_none_or(|&b| b == SYNC_BYTE)
        })
        .unwrap_or(input.len())
}
