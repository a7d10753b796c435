//! What a track received, as RTCP receiver reports tell the camera (RFC 3550 §6.4.2 and
//! Appendix A.3, A.8): the highest sequence number with its wraps, packets lost, interarrival
//! jitter, and the last sender report with the delay since. Pure: times come in as
//! arguments (ms of the server clock).
//!
//! Not done: the probation of A.1 (a new source is taken at its first packet) and the
//! randomised report interval of §6.3 (one receiver, one report every
//! [`REPORT_INTERVAL_MS`]).

use bytes::{Bytes, BytesMut};

use crate::wire::rtcp::{self, Packet, ReceiverReport, ReportBlock, SourceDescription};

/// How often a receiver report goes to the camera. Why: RFC 3550 §6.2's minimum is 5 s; some
/// cameras end a session whose client sends no RTCP for a minute.
pub const REPORT_INTERVAL_MS: u64 = 5_000;

/// The CNAME our reports carry (a compound packet must have one, §6.1).
const CNAME: &str = "tinysrs";

/// The reception of one source (the camera's SSRC on one track).
#[derive(Debug, Clone, Default)]
pub struct Reception {
    ssrc: Option<u32>,
    base_seq: u32,
    /// Highest sequence number seen, extended with the count of wraps (§A.1's `cycles`).
    max_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// §A.8, in timestamp units scaled by 16.
    jitter: u32,
    /// The last transit time (arrival in timestamp units minus the RTP timestamp).
    transit: Option<i64>,
    /// Middle 32 bits of the last SR's NTP time, and when it arrived.
    last_sr: Option<(u32, u64)>,
}

impl Reception {
    /// A packet of `ssrc` with `sequence` and `timestamp` arrived at `now_ms`; `clock_rate`
    /// of its payload format (Hz).
    pub fn packet(
        &mut self,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        clock_rate: u32,
        now_ms: u64,
    ) {
        let seq = u32::from(sequence);
        if self.ssrc != Some(ssrc) {
            *self = Reception {
                ssrc: Some(ssrc),
                base_seq: seq,
                max_seq: seq,
                ..Reception::default()
            };
        } else {
            let max16 = self.max_seq & 0xffff;
            let delta = seq.wrapping_sub(max16) & 0xffff;
            if delta != 0 && delta < 0x8000 {
                // Ahead (§A.1: in order, possibly with a gap); a smaller number wrapped.
                let cycles = self.max_seq & 0xffff_0000;
                let cycles = if seq < max16 {
                    cycles.wrapping_add(0x1_0000)
                } else {
                    cycles
                };
                self.max_seq = cycles | seq;
            }
        }
        self.received = self.received.wrapping_add(1);
        // §A.8: arrival time in timestamp units.
        let arrival = (now_ms as i64).wrapping_mul(i64::from(clock_rate)) / 1000;
        let transit = arrival.wrapping_sub(i64::from(timestamp));
        if let Some(last) = self.transit {
            let d = transit
                .wrapping_sub(last)
                .unsigned_abs()
                .min(u64::from(u32::MAX >> 4));
            let d = d as u32;
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter = self
                .jitter
                .wrapping_add(d)
                .wrapping_sub((self.jitter.wrapping_add(8)) >> 4);
        }
        self.transit = Some(transit);
    }

    /// A sender report about this source arrived at `now_ms`.
    pub fn sender_report(&mut self, ssrc: u32, ntp_middle32: u32, now_ms: u64) {
        if self.ssrc == Some(ssrc) {
            self.last_sr = Some((ntp_middle32, now_ms));
        }
    }

    /// The report block for now, and the counts for the next one. `None` before the first
    /// packet.
    pub fn block(&mut self, now_ms: u64) -> Option<ReportBlock> {
        let ssrc = self.ssrc?;
        let expected = self.max_seq.wrapping_sub(self.base_seq).wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((middle, at)) => {
                let delay = now_ms.saturating_sub(at).saturating_mul(65_536) / 1000;
                (middle, delay.min(u64::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            // 24 bits, signed (§6.4.1).
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_sequence: self.max_seq,
            jitter: self.jitter >> 4,
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// A compound RR + SDES (CNAME) from `our_ssrc` about `blocks` (at most 31 used).
pub fn receiver_report(our_ssrc: u32, blocks: Vec<ReportBlock>) -> Bytes {
    let mut reports = blocks;
    reports.truncate(rtcp::MAX_COUNT);
    let packets = [
        Packet::ReceiverReport(ReceiverReport {
            ssrc: our_ssrc,
            reports,
        }),
        Packet::SourceDescription(SourceDescription {
            chunks: vec![(our_ssrc, Some(CNAME.to_owned()))],
        }),
    ];
    let mut out = BytesMut::new();
    // Within the encoder's limits by construction (31 blocks, a short CNAME).
    let _ = rtcp::encode_compound(&packets, &mut out);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_losses_and_wraps() {
        let mut r = Reception::default();
        assert_eq!(r.block(0), None);
        // 65530 .. 65535, then 0 .. 9 with 3 and 4 lost: 16 expected, 14 received.
        for seq in (65530u16..=65535)
            .chain(0..10)
            .filter(|s| *s != 3 && *s != 4)
        {
            r.packet(7, seq, u32::from(seq) * 3600, 90_000, u64::from(seq));
        }
        let b = r.block(100).unwrap();
        assert_eq!(b.ssrc, 7);
        assert_eq!(b.highest_sequence, 0x1_0009);
        assert_eq!(b.cumulative_lost, 2);
        assert_eq!(b.fraction_lost, (2 * 256 / 16) as u8);
        assert_eq!((b.last_sr, b.delay_since_last_sr), (0, 0));
        // Nothing lost since: fraction 0, cumulative stays.
        r.packet(7, 10, 36_000, 90_000, 200);
        let b = r.block(300).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 2));
        // A late duplicate of an old number does not move the highest.
        r.packet(7, 2, 0, 90_000, 301);
        assert_eq!(r.block(302).unwrap().highest_sequence, 0x1_000a);
    }

    #[test]
    fn names_the_last_sender_report_and_the_delay_since() {
        let mut r = Reception::default();
        r.packet(9, 1, 0, 8_000, 0);
        r.sender_report(8, 0xdead, 10); // another source: ignored
        r.sender_report(9, 0xbeef, 1_000);
        let b = r.block(1_500).unwrap();
        assert_eq!((b.last_sr, b.delay_since_last_sr), (0xbeef, 32_768));
    }

    #[test]
    fn steady_packets_have_no_jitter() {
        let mut r = Reception::default();
        for i in 0..50u32 {
            r.packet(1, i as u16, i * 3_600, 90_000, u64::from(i) * 40);
        }
        assert_eq!(r.block(2_000).unwrap().jitter, 0);
    }

    #[test]
    fn the_report_is_a_compound_rr_with_a_cname() {
        let bytes = receiver_report(
            0x1234,
            vec![ReportBlock {
                ssrc: 5,
                ..ReportBlock::default()
            }],
        );
        let packets: Vec<_> = rtcp::packets(&bytes).map(Result::unwrap).collect();
        assert!(matches!(
            &packets[0],
            Packet::ReceiverReport(rr) if rr.ssrc == 0x1234 && rr.reports[0].ssrc == 5
        ));
        assert!(matches!(&packets[1], Packet::SourceDescription(_)));
    }
}
