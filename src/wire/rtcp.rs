//! RTCP (RFC 3550 §6): the compound packets that travel beside RTP. Sender reports (§6.4.1)
//! map a source's RTP timestamps to wallclock time, which is how two tracks of one camera
//! are put in sync ([`Wallclock`]); receiver reports (§6.4.2) tell a sender what arrived;
//! SDES (§6.5) carries the CNAME a compound packet must have; BYE (§6.6) says a source left.
//!
//! Pure code over byte slices: no I/O, no clock. The caller passes times in.
//!
//! What a caller must know:
//! * [`packets`] walks a compound packet (a UDP datagram or an interleaved frame). An error
//!   stops the walk (the lengths no longer frame anything): use the packets before it, drop
//!   the rest; none is worth more than a debug log line.
//! * Packet types other than SR, RR, SDES and BYE (APP, feedback, XR) come out as
//!   [`Packet::Other`] with their body.
//! * SDES keeps the CNAME of each chunk and skips the other items. Padding (the P bit) is
//!   removed on decode and never written.
//! * Every count is bounded by its field: at most 31 report blocks, SDES chunks or BYE
//!   sources per packet; a packet is at most 256 KiB by its 16-bit length in words.

use bytes::BufMut;

/// RTCP version, as RTP's (§6.4.1).
pub const VERSION: u8 = 2;
/// Packet types (§12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
/// The common header: V/P/count, packet type, length (§6.4.1).
pub const HEADER_LEN: usize = 4;
/// Largest count of report blocks, SDES chunks or BYE sources: the field is 5 bits.
pub const MAX_COUNT: usize = 31;
/// Bytes of one report block (§6.4.1).
pub const REPORT_BLOCK_LEN: usize = 24;
/// Sender info after the SSRC of an SR: NTP (8), RTP timestamp, packet and octet counts.
const SENDER_INFO_LEN: usize = 20;
/// SDES item type of the CNAME (§6.5.1); 0 ends a chunk's items.
const SDES_CNAME: u8 = 1;
const SDES_END: u8 = 0;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// Why a compound packet could not be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Fewer bytes than a header, or than the header's length says.
    #[error("RTCP packet at byte {at}: {needed} bytes needed, {available} there")]
    Truncated {
        at: usize,
        needed: usize,
        available: usize,
    },
    #[error("RTCP packet at byte {at}: version {version}, expected 2")]
    BadVersion { at: usize, version: u8 },
    /// The body is too short for its count, or the padding count is wrong.
    #[error("RTCP packet at byte {at}: malformed {what}")]
    Malformed { at: usize, what: &'static str },
    /// [`Packet::encode`] was given more than 31 blocks, chunks or sources, or text over 255
    /// bytes.
    #[error("RTCP packet too large to encode: {what}")]
    TooLarge { what: &'static str },
}

/// One reception report (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block is about.
    pub ssrc: u32,
    /// Fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24 bits, signed: duplicates make it negative).
    pub cumulative_lost: i32,
    /// Highest sequence number received, with the count of wraps in the upper 16 bits.
    pub highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the NTP timestamp of the last SR from that source (0: none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// An NTP timestamp (RFC 5905): seconds since 1900 in the upper 32 bits, fraction in the
/// lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// Microseconds since the Unix epoch (negative before 1970; an era-0 timestamp, so
    /// 1900 to 2036).
    pub fn to_unix_micros(self) -> i64 {
        let secs = (self.0 >> 32) as i64 - NTP_UNIX_OFFSET_SECS;
        let frac = ((self.0 & 0xffff_ffff) * 1_000_000) >> 32;
        secs * 1_000_000 + frac as i64
    }

    /// The timestamp of `micros` since the Unix epoch (clamped to the era: 1900 to 2036).
    pub fn from_unix_micros(micros: i64) -> NtpTimestamp {
        let ntp_micros = micros
            .saturating_add(NTP_UNIX_OFFSET_SECS * 1_000_000)
            .max(0);
        let secs = (ntp_micros / 1_000_000).min(i64::from(u32::MAX)) as u64;
        let frac = (((ntp_micros % 1_000_000) as u64) << 32) / 1_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// The middle 32 bits, as a report block's `last_sr` names an SR (§6.4.1).
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// SR (§6.4.1): a sender's clock mapping and counts, and its reception reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// Wallclock time when the report was sent.
    pub ntp: NtpTimestamp,
    /// The RTP timestamp corresponding to `ntp`, in the source's clock.
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    /// At most [`MAX_COUNT`].
    pub reports: Vec<ReportBlock>,
}

/// RR (§6.4.2): a receiver's reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport {
    pub ssrc: u32,
    /// At most [`MAX_COUNT`].
    pub reports: Vec<ReportBlock>,
}

/// SDES (§6.5): the CNAME of each source (other items are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDescription {
    /// (SSRC, CNAME if the chunk has one, non-UTF-8 bytes replaced); at most [`MAX_COUNT`].
    pub chunks: Vec<(u32, Option<String>)>,
}

/// BYE (§6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bye {
    /// At most [`MAX_COUNT`].
    pub sources: Vec<u32>,
    /// Non-UTF-8 bytes replaced; at most 255 bytes on the wire.
    pub reason: Option<String>,
}

/// One packet of a compound packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    SourceDescription(SourceDescription),
    Bye(Bye),
    /// APP, RTPFB, PSFB, XR, ...: the count field and the body after the header (padding
    /// removed).
    Other {
        packet_type: u8,
        count: u8,
        body: Vec<u8>,
    },
}

/// The packets of a compound packet, in order; see the module documentation.
pub fn packets(buf: &[u8]) -> Packets<'_> {
    Packets { buf, at: 0 }
}

/// Iterator returned by [`packets`].
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Iterator for Packets<'_> {
    type Item = Result<Packet, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let result = decode_one(self.buf, self.at);
        match &result {
            Ok((_, len)) => self.at += len,
            Err(_) => self.at = self.buf.len(),
        }
        Some(result.map(|(packet, _)| packet))
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes the packet at `at`; its length in bytes.
fn decode_one(buf: &[u8], at: usize) -> Result<(Packet, usize), RtcpError> {
    let rest = &buf[at..];
    let Some(header) = rest.get(..HEADER_LEN) else {
        return Err(RtcpError::Truncated {
            at,
            needed: HEADER_LEN,
            available: rest.len(),
        });
    };
    let version = header[0] >> 6;
    if version != VERSION {
        return Err(RtcpError::BadVersion { at, version });
    }
    let padded = header[0] & 0x20 != 0;
    let count = header[0] & 0x1f;
    let packet_type = header[1];
    let len = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
    let Some(packet) = rest.get(..len) else {
        return Err(RtcpError::Truncated {
            at,
            needed: len,
            available: rest.len(),
        });
    };
    let mut body = &packet[HEADER_LEN..];
    if padded {
        let pad = usize::from(*body.last().unwrap_or(&0));
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::Malformed {
                at,
                what: "padding count",
            });
        }
        body = &body[..body.len() - pad];
    }
    let malformed = |what| RtcpError::Malformed { at, what };
    let count_usize = usize::from(count);
    let decoded = match packet_type {
        PT_SR => {
            let need = 4 + SENDER_INFO_LEN + count_usize * REPORT_BLOCK_LEN;
            if body.len() < need {
                return Err(malformed("sender report shorter than its count"));
            }
            Packet::SenderReport(SenderReport {
                ssrc: be32(body, 0),
                ntp: NtpTimestamp((u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8))),
                rtp_timestamp: be32(body, 12),
                packet_count: be32(body, 16),
                octet_count: be32(body, 20),
                reports: report_blocks(&body[4 + SENDER_INFO_LEN..], count_usize),
            })
        }
        PT_RR => {
            if body.len() < 4 + count_usize * REPORT_BLOCK_LEN {
                return Err(malformed("receiver report shorter than its count"));
            }
            Packet::ReceiverReport(ReceiverReport {
                ssrc: be32(body, 0),
                reports: report_blocks(&body[4..], count_usize),
            })
        }
        PT_SDES => Packet::SourceDescription(
            decode_sdes(body, count_usize).ok_or(malformed("source description chunks"))?,
        ),
        PT_BYE => {
            let sources_len = 4 * count_usize;
            if body.len() < sources_len {
                return Err(malformed("BYE shorter than its count"));
            }
            let sources = (0..count_usize).map(|i| be32(body, 4 * i)).collect();
            let reason = match body.get(sources_len) {
                None => None,
                Some(&n) => {
                    let text = body
                        .get(sources_len + 1..sources_len + 1 + usize::from(n))
                        .ok_or(malformed("BYE reason"))?;
                    Some(String::from_utf8_lossy(text).into_owned())
                }
            };
            Packet::Bye(Bye { sources, reason })
        }
        _ => Packet::Other {
            packet_type,
            count,
            body: body.to_vec(),
        },
    };
    Ok((decoded, len))
}

/// `count` blocks from the front of `b` (its length is checked by the caller).
fn report_blocks(b: &[u8], count: usize) -> Vec<ReportBlock> {
    (0..count)
        .map(|i| {
            let r = &b[i * REPORT_BLOCK_LEN..];
            // cumulative_lost: 24-bit two's complement, sign-extended.
            let lost = (be32(r, 4) << 8) as i32 >> 8;
            ReportBlock {
                ssrc: be32(r, 0),
                fraction_lost: r[4],
                cumulative_lost: lost,
                highest_sequence: be32(r, 8),
                jitter: be32(r, 12),
                last_sr: be32(r, 16),
                delay_since_last_sr: be32(r, 20),
            }
        })
        .collect()
}

/// SDES chunks: SSRC, items (type, length, text) up to a null item, padded to 4 bytes.
fn decode_sdes(mut b: &[u8], count: usize) -> Option<SourceDescription> {
    let mut chunks = Vec::with_capacity(count);
    for _ in 0..count {
        let ssrc = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
        let mut i = 4;
        let mut cname = None;
        loop {
            match *b.get(i)? {
                SDES_END => break,
                item => {
                    let len = usize::from(*b.get(i + 1)?);
                    let text = b.get(i + 2..i + 2 + len)?;
                    if item == SDES_CNAME && cname.is_none() {
                        cname = Some(String::from_utf8_lossy(text).into_owned());
                    }
                    i += 2 + len;
                }
            }
        }
        // The null item, then padding to the next 32-bit boundary.
        let end = (i + 1).div_ceil(4) * 4;
        b = b.get(end..).unwrap_or(&[]);
        chunks.push((ssrc, cname));
    }
    Some(SourceDescription { chunks })
}

impl Packet {
    /// Bytes [`Packet::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Packet::SenderReport(sr) => 4 + SENDER_INFO_LEN + sr.reports.len() * 24,
                Packet::ReceiverReport(rr) => 4 + rr.reports.len() * REPORT_BLOCK_LEN,
                Packet::SourceDescription(sdes) => sdes
                    .chunks
                    .iter()
                    .map(|(_, cname)| {
                        let items = cname.as_ref().map_or(0, |c| 2 + c.len());
                        (4 + items + 1).div_ceil(4) * 4
                    })
                    .sum(),
                Packet::Bye(bye) => {
                    let reason = bye.reason.as_ref().map_or(0, |r| 1 + r.len());
                    (4 * bye.sources.len() + reason).div_ceil(4) * 4
                }
                Packet::Other { body, .. } => body.len().div_ceil(4) * 4,
            }
    }

    /// Writes the packet (no padding bit; bodies are zero-padded to 32 bits as SDES, BYE and
    /// unknown types need). Errors, before writing anything, when a count exceeds
    /// [`MAX_COUNT`], a text exceeds 255 bytes, or the packet exceeds the 16-bit length.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), RtcpError> {
        let (packet_type, count) = match self {
            Packet::SenderReport(sr) => (PT_SR, sr.reports.len()),
            Packet::ReceiverReport(rr) => (PT_RR, rr.reports.len()),
            Packet::SourceDescription(s) => (PT_SDES, s.chunks.len()),
            Packet::Bye(b) => (PT_BYE, b.sources.len()),
            Packet::Other {
                packet_type, count, ..
            } => (*packet_type, usize::from(*count & 0x1f)),
        };
        if count > MAX_COUNT {
            return Err(RtcpError::TooLarge {
                what: "more than 31 blocks, chunks or sources",
            });
        }
        let long_text = match self {
            Packet::SourceDescription(s) => s
                .chunks
                .iter()
                .any(|(_, c)| c.as_ref().is_some_and(|c| c.len() > 255)),
            Packet::Bye(b) => b.reason.as_ref().is_some_and(|r| r.len() > 255),
            _ => false,
        };
        if long_text {
            return Err(RtcpError::TooLarge {
                what: "text over 255 bytes",
            });
        }
        let len = self.encoded_len();
        let words = u16::try_from(len / 4 - 1).map_err(|_| RtcpError::TooLarge {
            what: "packet over the 16-bit length",
        })?;
        // count <= 31 was checked.
        out.put_u8((VERSION << 6) | count as u8);
        out.put_u8(packet_type);
        out.put_u16(words);
        let mut written = HEADER_LEN;
        match self {
            Packet::SenderReport(sr) => {
                out.put_u32(sr.ssrc);
                out.put_u64(sr.ntp.0);
                out.put_u32(sr.rtp_timestamp);
                out.put_u32(sr.packet_count);
                out.put_u32(sr.octet_count);
                written += 4 + SENDER_INFO_LEN;
                written += put_blocks(out, &sr.reports);
            }
            Packet::ReceiverReport(rr) => {
                out.put_u32(rr.ssrc);
                written += 4 + put_blocks(out, &rr.reports);
            }
            Packet::SourceDescription(s) => {
                for (ssrc, cname) in &s.chunks {
                    out.put_u32(*ssrc);
                    let mut chunk = 4;
                    if let Some(c) = cname {
                        out.put_u8(SDES_CNAME);
                        out.put_u8(c.len() as u8);
                        out.put_slice(c.as_bytes());
                        chunk += 2 + c.len();
                    }
                    // The null item and padding: 1 to 4 zero bytes.
                    let padded = (chunk + 1).div_ceil(4) * 4;
                    out.put_bytes(0, padded - chunk);
                    written += padded;
                }
            }
            Packet::Bye(b) => {
                for s in &b.sources {
                    out.put_u32(*s);
                }
                written += 4 * b.sources.len();
                if let Some(r) = &b.reason {
                    out.put_u8(r.len() as u8);
                    out.put_slice(r.as_bytes());
                    written += 1 + r.len();
                }
            }
            Packet::Other { body, .. } => {
                out.put_slice(body);
                written += body.len();
            }
        }
        out.put_bytes(0, len - written);
        Ok(())
    }
}

fn put_blocks(out: &mut impl BufMut, blocks: &[ReportBlock]) -> usize {
    for b in blocks {
        out.put_u32(b.ssrc);
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0x00ff_ffff;
        out.put_u32((u32::from(b.fraction_lost) << 24) | lost);
        out.put_u32(b.highest_sequence);
        out.put_u32(b.jitter);
        out.put_u32(b.last_sr);
        out.put_u32(b.delay_since_last_sr);
    }
    blocks.len() * REPORT_BLOCK_LEN
}

/// Writes a compound packet: each packet in turn (RFC 3550 §6.1 wants an SR or RR first and
/// an SDES with a CNAME; the caller orders them). Errors before writing the packet at fault;
/// the ones before it are written.
pub fn encode_compound(packets: &[Packet], out: &mut impl BufMut) -> Result<(), RtcpError> {
    packets.iter().try_for_each(|p| p.encode(out))
}

/// A source's RTP clock against wallclock time, from one of its sender reports: the pure
/// core of A/V sync (two tracks of a camera are in sync when their access units map to the
/// same wallclock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wallclock {
    ntp: NtpTimestamp,
    rtp_timestamp: u32,
    clock_rate: u32,
}

impl Wallclock {
    /// From a sender report of a track with this RTP clock rate; `None` when the rate is 0 or
    /// the report has no wallclock (NTP 0, as some cameras send before they know the time).
    pub fn from_report(report: &SenderReport, clock_rate: u32) -> Option<Wallclock> {
        (clock_rate > 0 && report.ntp.0 != 0).then_some(Wallclock {
            ntp: report.ntp,
            rtp_timestamp: report.rtp_timestamp,
            clock_rate,
        })
    }

    /// The wallclock of `rtp_timestamp`, in microseconds since the Unix epoch. Timestamps
    /// within 2^31 ticks of the report's, either way (6.6 hours at 90 kHz), map correctly
    /// across the 32-bit wrap.
    pub fn unix_micros(&self, rtp_timestamp: u32) -> i64 {
        let ticks = i64::from(rtp_timestamp.wrapping_sub(self.rtp_timestamp) as i32);
        self.ntp.to_unix_micros() + ticks * 1_000_000 / i64::from(self.clock_rate)
    }
}

#[cfg(test)]
mod tests;
