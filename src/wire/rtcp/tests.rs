//! RFC 3550 layouts as golden bytes (a camera's SR + SDES, our RR + SDES, BYE, feedback),
//! errors, the wallclock mapping across the wrap, and a mutation loop.

use super::*;
use crate::testutil::XorShift;

/// A camera's compound packet: SR (no report blocks; NTP 2024-01-01 00:00:00.5 UTC, RTP
/// timestamp 0xFFFF0000, 1000 packets, 1,200,000 octets) and SDES with the CNAME "cam".
const CAMERA_SR_SDES: &[u8] = &[
    0x80, 0xc8, 0x00, 0x06, // V=2, RC=0, SR, 6 words follow
    0x6b, 0x8b, 0x45, 0x67, // SSRC
    0xe9, 0x3c, 0x7f, 0x00, 0x80, 0x00, 0x00, 0x00, // NTP
    0xff, 0xff, 0x00, 0x00, // RTP timestamp
    0x00, 0x00, 0x03, 0xe8, // packets
    0x00, 0x12, 0x4f, 0x80, // octets
    0x81, 0xca, 0x00, 0x03, // V=2, SC=1, SDES, 3 words follow
    0x6b, 0x8b, 0x45, 0x67, // SSRC
    0x01, 0x03, b'c', b'a', b'm', 0x00, 0x00, 0x00, // CNAME "cam", end, pad
];

/// Our receiver report about that camera (fraction lost 1/256, cumulative -3 from duplicates,
/// highest 0x0001_2345, jitter 90, LSR of its SR, DLSR 0.5 s) and our SDES.
const OUR_RR_SDES: &[u8] = &[
    0x81, 0xc9, 0x00, 0x07, // V=2, RC=1, RR, 7 words follow
    0x00, 0x00, 0x00, 0x01, // our SSRC
    0x6b, 0x8b, 0x45, 0x67, // about the camera
    0x01, 0xff, 0xff, 0xfd, // fraction 1, cumulative -3
    0x00, 0x01, 0x23, 0x45, // highest sequence
    0x00, 0x00, 0x00, 0x5a, // jitter
    0x7f, 0x00, 0x80, 0x00, // LSR: the middle 32 bits of the SR's NTP
    0x00, 0x00, 0x80, 0x00, // DLSR 0.5 s
    0x81, 0xca, 0x00, 0x04, // SDES, SC=1, 4 words follow
    0x00, 0x00, 0x00, 0x01, // our SSRC
    0x01, 0x07, b't', b'i', b'n', b'y', b's', b'r', b's', 0x00, 0x00, 0x00, // CNAME, end, pad
];

/// BYE with a reason, and a PSFB PLI (RFC 4585 §6.3.1: PT 206, FMT 1) with padding.
const BYE_AND_PLI: &[u8] = &[
    0x81, 0xcb, 0x00, 0x03, // BYE, SC=1, 3 words follow
    0x6b, 0x8b, 0x45, 0x67, 0x04, b'q', b'u', b'i', b't', 0x00, 0x00, 0x00, // reason + pad
    0xa1, 0xce, 0x00, 0x03, // P bit, FMT 1, PSFB, 3 words follow
    0x00, 0x00, 0x00, 0x01, 0x6b, 0x8b, 0x45, 0x67, // sender, media source
    0x00, 0x00, 0x00, 0x04, // 4 bytes of padding
];

fn all(buf: &[u8]) -> Vec<Packet> {
    packets(buf).map(Result::unwrap).collect()
}

fn encode(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_compound(packets, &mut out).unwrap();
    assert_eq!(
        out.len(),
        packets.iter().map(Packet::encoded_len).sum::<usize>()
    );
    out
}

#[test]
fn camera_sender_report() {
    let got = all(CAMERA_SR_SDES);
    let Packet::SenderReport(sr) = &got[0] else {
        panic!("{got:?}");
    };
    assert_eq!(sr.ssrc, 0x6b8b_4567);
    assert_eq!(sr.ntp.to_unix_micros(), 1_704_067_200_500_000);
    assert_eq!(sr.rtp_timestamp, 0xffff_0000);
    assert_eq!((sr.packet_count, sr.octet_count), (1000, 1_200_000));
    assert!(sr.reports.is_empty());
    assert_eq!(
        got[1],
        Packet::SourceDescription(SourceDescription {
            chunks: vec![(0x6b8b_4567, Some("cam".into()))]
        })
    );
    assert_eq!(encode(&got), CAMERA_SR_SDES);
}

#[test]
fn our_receiver_report() {
    let sr_ntp = NtpTimestamp(0xe93c_7f00_8000_0000);
    let packets = [
        Packet::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: vec![ReportBlock {
                ssrc: 0x6b8b_4567,
                fraction_lost: 1,
                cumulative_lost: -3,
                highest_sequence: 0x0001_2345,
                jitter: 90,
                last_sr: sr_ntp.middle32(),
                delay_since_last_sr: 0x8000,
            }],
        }),
        Packet::SourceDescription(SourceDescription {
            chunks: vec![(1, Some("tinysrs".into()))],
        }),
    ];
    assert_eq!(encode(&packets), OUR_RR_SDES);
    assert_eq!(all(OUR_RR_SDES), packets);
    // A cumulative loss beyond 24 bits is clamped.
    let mut big = packets[0].clone();
    if let Packet::ReceiverReport(rr) = &mut big {
        rr.reports[0].cumulative_lost = 1 << 30;
    }
    let Packet::ReceiverReport(back) = &all(&encode(&[big]))[0] else {
        panic!();
    };
    assert_eq!(back.reports[0].cumulative_lost, 0x7f_ffff);
}

#[test]
fn bye_and_unknown_types() {
    let got = all(BYE_AND_PLI);
    assert_eq!(
        got,
        [
            Packet::Bye(Bye {
                sources: vec![0x6b8b_4567],
                reason: Some("quit".into()),
            }),
            Packet::Other {
                packet_type: 206,
                count: 1,
                body: vec![0, 0, 0, 1, 0x6b, 0x8b, 0x45, 0x67],
            }
        ]
    );
    // Written back without the padding.
    let mut want = BYE_AND_PLI[..16].to_vec();
    want.extend_from_slice(&[0x81, 0xce, 0x00, 0x02]);
    want.extend_from_slice(&BYE_AND_PLI[20..28]);
    assert_eq!(encode(&got), want);
    let empty_bye = Packet::Bye(Bye {
        sources: vec![],
        reason: None,
    });
    assert_eq!(
        encode(std::slice::from_ref(&empty_bye)),
        [0x80, 0xcb, 0x00, 0x00]
    );
    assert_eq!(all(&[0x80, 0xcb, 0x00, 0x00]), [empty_bye]);
}

#[test]
fn errors() {
    let cases: &[(&[u8], RtcpError)] = &[
        (
            &[0x80, 0xc8],
            RtcpError::Truncated {
                at: 0,
                needed: 4,
                available: 2,
            },
        ),
        (
            &[0x40, 0xc8, 0, 0],
            RtcpError::BadVersion { at: 0, version: 1 },
        ),
        (
            &[0x80, 0xc8, 0x00, 0x06, 0, 0, 0, 0],
            RtcpError::Truncated {
                at: 0,
                needed: 28,
                available: 8,
            },
        ),
        (
            &[0x81, 0xc8, 0x00, 0x01, 0, 0, 0, 0],
            RtcpError::Malformed {
                at: 0,
                what: "sender report shorter than its count",
            },
        ),
        (
            &[0x81, 0xc9, 0x00, 0x01, 0, 0, 0, 1],
            RtcpError::Malformed {
                at: 0,
                what: "receiver report shorter than its count",
            },
        ),
        (
            &[0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 9],
            RtcpError::Malformed {
                at: 0,
                what: "padding count",
            },
        ),
        (
            &[0x81, 0xca, 0x00, 0x01, 0, 0, 0, 1],
            RtcpError::Malformed {
                at: 0,
                what: "source description chunks",
            },
        ),
        (
            &[0x81, 0xcb, 0x00, 0x02, 0, 0, 0, 1, 9, b'x', 0, 0],
            RtcpError::Malformed {
                at: 0,
                what: "BYE reason",
            },
        ),
    ];
    for (bytes, err) in cases {
        let got: Vec<_> = packets(bytes).collect();
        assert_eq!(got, [Err(*err)], "{bytes:?}");
    }
    // The packets before an error are read; the walk stops at it.
    let mut two = CAMERA_SR_SDES[..28].to_vec();
    two.extend_from_slice(&[0x80, 0xc9]);
    let got: Vec<_> = packets(&two).collect();
    assert_eq!(got.len(), 2);
    assert!(got[0].is_ok() && got[1].is_err());
    // Encoding refuses what does not fit its fields.
    let mut out = Vec::new();
    let too_many = Packet::Bye(Bye {
        sources: vec![1; MAX_COUNT + 1],
        reason: None,
    });
    assert!(too_many.encode(&mut out).is_err());
    let long = Packet::Bye(Bye {
        sources: vec![],
        reason: Some("x".repeat(256)),
    });
    assert!(long.encode(&mut out).is_err());
    assert!(out.is_empty());
}

/// The wallclock of RTP timestamps around a sender report, across the 32-bit wrap both ways.
#[test]
fn wallclock_mapping() {
    let Packet::SenderReport(sr) = &all(CAMERA_SR_SDES)[0] else {
        panic!();
    };
    let clock = Wallclock::from_report(sr, 90_000).unwrap();
    let at_report = 1_704_067_200_500_000;
    assert_eq!(clock.unix_micros(0xffff_0000), at_report);
    // 0xFFFF0000 + 90000 wraps to 0x00005F90: one second later.
    assert_eq!(clock.unix_micros(0x0000_5f90), at_report + 1_000_000);
    // 3600 ticks before: 40 ms earlier.
    assert_eq!(clock.unix_micros(0xfffe_f1f0), at_report - 40_000);
    // An audio track of the same camera at 8 kHz, its SR taken at the same instant.
    let audio = Wallclock::from_report(
        &SenderReport {
            rtp_timestamp: 1234,
            ..sr.clone()
        },
        8000,
    )
    .unwrap();
    assert_eq!(
        audio.unix_micros(1234 + 8000),
        clock.unix_micros(0x0000_5f90)
    );
    // No wallclock yet, or no clock rate.
    let unset = SenderReport {
        ntp: NtpTimestamp(0),
        ..sr.clone()
    };
    assert_eq!(Wallclock::from_report(&unset, 90_000), None);
    assert_eq!(Wallclock::from_report(sr, 0), None);
}

#[test]
fn ntp_conversions() {
    for micros in [
        0i64,
        1_704_067_200_500_000,
        1_000_001,
        2_085_978_495_999_999,
    ] {
        let ntp = NtpTimestamp::from_unix_micros(micros);
        let back = ntp.to_unix_micros();
        assert!((back - micros).abs() <= 1, "{micros} -> {back}");
    }
    assert_eq!(NtpTimestamp::from_unix_micros(0).0 >> 32, 2_208_988_800);
    assert_eq!(NtpTimestamp::from_unix_micros(i64::MIN).0, 0);
    assert_eq!(NtpTimestamp(0xe93c_7f00_8000_0000).middle32(), 0x7f00_8000);
}

/// Mutations of the goldens: no panic, and what decodes re-encodes to bytes that decode to
/// the same packets.
#[test]
fn fuzz_no_panic_and_stable() {
    let seeds = [CAMERA_SR_SDES, OUR_RR_SDES, BYE_AND_PLI];
    let mut rng = XorShift(0x7274_6370);
    for _ in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(input.len());
            input[at] = match rng.below(3) {
                0 => rng.next() as u8,
                1 => rng.below(8) as u8,
                _ => input[at] ^ (1 << rng.below(8)),
            };
        }
        input.truncate(rng.below(input.len() + 1));
        let decoded: Vec<Packet> = packets(&input).filter_map(Result::ok).collect();
        let mut bytes = Vec::new();
        if encode_compound(&decoded, &mut bytes).is_ok() {
            let again: Vec<Packet> = packets(&bytes).map(Result::unwrap).collect();
            let mut twice = Vec::new();
            encode_compound(&again, &mut twice).unwrap();
            assert_eq!(twice, bytes);
        }
    }
}
