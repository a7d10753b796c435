//! RFC 6184 packet layouts as golden bytes, packetize → depacketize round trips, access unit
//! boundaries, loss, limits, in-band parameter sets, camera quirks and a mutation loop.

use bytes::Bytes;

use super::*;
use crate::testutil::XorShift;
use crate::wire::codec::annexb::NalUnits;
use crate::wire::rtp::{payload::MIN_MTU, DepacketizeError, MIN_MAX_ACCESS_UNIT};
use crate::wire::rtp::{AccessUnit, PacketizeError, RtpPacket};

/// x264's SPS (Main 3.0, 640x360) and PPS.
const SPS: &[u8] = &[
    0x67, 0x4d, 0x40, 0x1e, 0xec, 0xa0, 0x50, 0x17, 0xfc, 0xb8, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00,
    0x80, 0x00, 0x00, 0x19, 0x07, 0x8b, 0x16, 0xcb,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x20];
/// A short IDR slice and a non-IDR slice (headers as x264 writes them; the bodies are filler).
const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33, 0xff];
const SLICE: &[u8] = &[0x41, 0x9a, 0x21, 0x6c, 0x41];

/// RFC 6184 §5.7.1 Figure 7: a STAP-A (NRI 3, type 24) of the SPS and PPS, each with its
/// 16-bit size.
const STAP_A_SPS_PPS: &[u8] = &[
    0x78, 0x00, 0x18, 0x67, 0x4d, 0x40, 0x1e, 0xec, 0xa0, 0x50, 0x17, 0xfc, 0xb8, 0x08, 0x80, 0x00,
    0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x19, 0x07, 0x8b, 0x16, 0xcb, 0x00, 0x05, 0x68, 0xeb, 0xe3,
    0xcb, 0x20,
];

fn avcc(nals: &[&[u8]]) -> Bytes {
    crate::wire::rtp::nal::length_prefixed(nals)
}

fn packet(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
    RtpPacket {
        marker,
        payload_type: 96,
        sequence,
        timestamp,
        ssrc: 0x6b8b_4567,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn writer() -> RtpWriter {
    RtpWriter {
        payload_type: 96,
        ssrc: 0x6b8b_4567,
        sequence: 0xfffe,
    }
}

/// A depacketizer without parameter sets from an SDP.
fn no_sdp() -> Depacketizer {
    depacketizer(&H264Params::parse(""))
}

fn drain(d: &mut Depacketizer) -> Vec<AccessUnit> {
    std::iter::from_fn(|| d.pop()).collect()
}

/// A big IDR slice: header then `len - 1` bytes of a counter pattern without `00 00`.
fn big_slice(header: u8, len: usize) -> Vec<u8> {
    let mut nal = vec![header];
    nal.extend((1..len).map(|i| (i % 251) as u8 + 1));
    nal
}

#[test]
fn single_nal_stap_a_and_fu_a_golden() {
    let mut d = no_sdp();
    // The SPS and PPS in a STAP-A, then the IDR in three FU-As, marker on the last.
    d.push(&packet(1, 9000, false, STAP_A_SPS_PPS)).unwrap();
    // FU indicator: F 0, NRI 3, type 28 = 0x7c; FU header S/E bits with type 5.
    d.push(&packet(2, 9000, false, &[0x7c, 0x85, 0x88, 0x84]))
        .unwrap();
    d.push(&packet(3, 9000, false, &[0x7c, 0x05, 0x00]))
        .unwrap();
    d.push(&packet(4, 9000, true, &[0x7c, 0x45, 0x33, 0xff]))
        .unwrap();
    // A single NAL unit packet with the marker: the next picture.
    d.push(&packet(5, 12600, true, SLICE)).unwrap();
    let units = drain(&mut d);
    assert_eq!(
        units,
        [
            AccessUnit {
                timestamp: 9000,
                data: avcc(&[SPS, PPS, IDR]),
                keyframe: true,
                new_parameters: true,
                discontinuity: false,
            },
            AccessUnit {
                timestamp: 12600,
                data: avcc(&[SLICE]),
                keyframe: false,
                new_parameters: false,
                discontinuity: false,
            }
        ]
    );
    assert_eq!(d.sps().map(|s| &s[..]), Some(SPS));
    let config = d.avc_config().unwrap();
    assert_eq!(config.sps_info().unwrap().width, 640);
    let stats = d.stats();
    assert_eq!((stats.packets, stats.access_units), (5, 2));
    assert_eq!((stats.lost_packets, stats.dropped_packets), (0, 0));
}

/// What our packetizer writes, byte for byte: STAP-A for the parameter sets, FU-A for a NAL
/// over the MTU, the marker on the last packet, sequence numbers across the wrap.
#[test]
fn packetizer_golden() {
    let mut p = packetizer(writer(), MIN_MTU, 4);
    let idr = big_slice(0x65, 100);
    let mut out = Vec::new();
    p.packetize(0x1234_5678, &avcc(&[SPS, PPS, &idr]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 3);
    let header = |seq: u16, marker: bool| {
        let mut h = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x6b, 0x8b, 0x45, 0x67]);
        h
    };
    assert_eq!(out[0][..12], header(0xfffe, false)[..]);
    assert_eq!(&out[0][12..], STAP_A_SPS_PPS);
    // FU-A: 62 bytes of payload per fragment (64 - indicator - header).
    let mut first = header(0xffff, false);
    first.extend_from_slice(&[0x7c, 0x85]);
    first.extend_from_slice(&idr[1..63]);
    assert_eq!(&out[1][..], &first[..]);
    let mut last = header(0, true);
    last.extend_from_slice(&[0x7c, 0x45]);
    last.extend_from_slice(&idr[63..]);
    assert_eq!(&out[2][..], &last[..]);
    assert_eq!(p.next_sequence(), 1);

    // Without aggregation the parameter sets go one per packet.
    let mut p = packetizer(writer(), MIN_MTU, 4).with_aggregation(false);
    out.clear();
    p.packetize(0, &avcc(&[SPS, PPS, IDR]), &mut out).unwrap();
    let payloads: Vec<&[u8]> = out.iter().map(|b| &b[12..]).collect();
    assert_eq!(payloads, [SPS, PPS, IDR]);
    assert_eq!(out.iter().filter(|b| b[1] & 0x80 != 0).count(), 1);
}

/// Random access units (random NAL sizes around the MTU, NAL length sizes 1 to 4): what comes
/// out of the depacketizer is what went into the packetizer.
#[test]
fn round_trip() {
    let mut rng = XorShift(0x2642_6f31_d2a5);
    for round in 0..200 {
        let mtu = [MIN_MTU, 200, 1400][rng.below(3)];
        let length_size = [4u8, 4, 2, 1][rng.below(4)];
        let aggregate = rng.below(2) == 0;
        let mut p = packetizer(writer(), mtu, length_size).with_aggregation(aggregate);
        let mut d = no_sdp();
        let mut sent = Vec::new();
        let mut got = Vec::new();
        let mut timestamp = rng.next() as u32;
        let mut sequence = None;
        for _ in 0..5 {
            let keyframe = rng.below(3) == 0;
            let mut nals: Vec<Vec<u8>> = Vec::new();
            if keyframe {
                nals.push(SPS.to_vec());
                nals.push(PPS.to_vec());
            }
            for _ in 0..1 + rng.below(3) {
                let max = if length_size == 1 { 255 } else { 3 * mtu };
                let len = 2 + rng.below(max - 1);
                nals.push(big_slice(if keyframe { 0x65 } else { 0x41 }, len));
            }
            let mut au = Vec::new();
            for nal in &nals {
                au.extend_from_slice(
                    &u32::try_from(nal.len()).unwrap().to_be_bytes()
                        [4 - usize::from(length_size)..],
                );
                au.extend_from_slice(nal);
            }
            let mut out = Vec::new();
            p.packetize(timestamp, &au, &mut out).unwrap();
            for bytes in out {
                assert!(bytes.len() <= 12 + mtu, "round {round}");
                let packet = RtpPacket::decode(bytes).unwrap();
                if let Some(prev) = sequence {
                    assert_eq!(packet.sequence, u16::wrapping_add(prev, 1));
                }
                sequence = Some(packet.sequence);
                d.push(&packet).unwrap();
                got.extend(
                    drain(&mut d)
                        .into_iter()
                        .map(|u| (u.timestamp, u.data, u.keyframe)),
                );
            }
            let refs: Vec<&[u8]> = nals.iter().map(|n| &n[..]).collect();
            sent.push((timestamp, avcc(&refs), keyframe));
            timestamp = timestamp.wrapping_add(3000);
        }
        let summary = |units: &[(u32, Bytes, bool)]| -> Vec<(u32, usize, bool)> {
            units.iter().map(|(t, d, k)| (*t, d.len(), *k)).collect()
        };
        assert_eq!(
            summary(&got),
            summary(&sent),
            "round {round} mtu {mtu} aggregate {aggregate} length size {length_size}"
        );
        assert!(got == sent, "round {round}: same sizes, different bytes");
    }
}

#[test]
fn timestamp_change_ends_a_unit_without_marker() {
    let mut d = no_sdp();
    d.push(&packet(1, 0, false, SLICE)).unwrap();
    d.push(&packet(2, 0, false, SLICE)).unwrap();
    assert_eq!(d.pop(), None);
    d.push(&packet(3, 3000, false, IDR)).unwrap();
    let unit = d.pop().unwrap();
    assert_eq!((unit.timestamp, unit.data), (0, avcc(&[SLICE, SLICE])));
    assert_eq!(d.pop(), None);
}

/// A lost FU-A fragment drops its picture, the rest of it is skipped, the next picture comes
/// out flagged as after a discontinuity.
#[test]
fn lost_fragment_drops_the_unit() {
    let mut d = no_sdp();
    d.push(&packet(10, 0, true, IDR)).unwrap();
    d.push(&packet(11, 3000, false, &[0x7c, 0x81, 1, 2]))
        .unwrap();
    // 12 is lost.
    d.push(&packet(13, 3000, false, &[0x7c, 0x01, 5, 6]))
        .unwrap();
    d.push(&packet(14, 3000, true, &[0x7c, 0x41, 7, 8]))
        .unwrap();
    d.push(&packet(15, 6000, true, SLICE)).unwrap();
    let units = drain(&mut d);
    assert_eq!(units.len(), 2);
    assert!(!units[0].discontinuity);
    assert_eq!(units[1].timestamp, 6000);
    assert!(units[1].discontinuity);
    let stats = d.stats();
    assert_eq!(stats.lost_packets, 1);
    assert_eq!(stats.dropped_access_units, 1);
    assert_eq!(stats.dropped_packets, 2);

    // A loss between pictures drops nothing but flags the next one.
    d.push(&packet(20, 9000, true, SLICE)).unwrap();
    assert!(d.pop().unwrap().discontinuity);
    assert_eq!(d.stats().lost_packets, 5);
    // The start of a picture's FU-A lost: the rest of the picture is dropped quietly (the
    // loss is counted, no error), the next picture comes out.
    d.push(&packet(22, 12000, false, &[0x7c, 0x05, 1, 2]))
        .unwrap();
    d.push(&packet(23, 12000, true, &[0x7c, 0x45, 3, 4]))
        .unwrap();
    d.push(&packet(24, 15000, true, SLICE)).unwrap();
    let unit = d.pop().unwrap();
    assert_eq!((unit.timestamp, unit.discontinuity), (15000, true));
    assert_eq!(d.stats().lost_packets, 6);
    assert_eq!(d.stats().dropped_packets, 4);
}

/// A fragmented NAL unit that never ends is dropped at the cap with an error; the stream goes
/// on with the next picture.
#[test]
fn endless_fragment_stops_at_the_cap() {
    let mut d = no_sdp().with_max_access_unit(0);
    let chunk = vec![0x11; 1400];
    let mut start = vec![0x7c, 0x85];
    start.extend_from_slice(&chunk);
    d.push(&packet(0, 0, false, &start)).unwrap();
    let mut middle = vec![0x7c, 0x05];
    middle.extend_from_slice(&chunk);
    let mut seq = 1;
    let err = loop {
        match d.push(&packet(seq, 0, false, &middle)) {
            Ok(()) => seq += 1,
            Err(e) => break e,
        }
        assert!(seq < 100, "never refused");
    };
    assert_eq!(
        err,
        DepacketizeError::TooLarge {
            sequence: seq,
            limit: MIN_MAX_ACCESS_UNIT
        }
    );
    assert_eq!(usize::from(seq), MIN_MAX_ACCESS_UNIT / 1400);
    // More of the same unit is skipped quietly, then the next picture is fine.
    d.push(&packet(seq + 1, 0, false, &middle)).unwrap();
    d.push(&packet(seq + 2, 3000, true, SLICE)).unwrap();
    let unit = d.pop().unwrap();
    assert_eq!((unit.timestamp, unit.discontinuity), (3000, true));
    let stats = d.stats();
    assert_eq!((stats.too_large, stats.dropped_access_units), (1, 1));
}

/// The next picture starts while a FU-A is open and no packet was lost (the sender's fault):
/// the open picture is dropped with `Incomplete`, the new packet is used.
#[test]
fn next_picture_inside_a_fragment() {
    let mut d = no_sdp();
    d.push(&packet(1, 0, false, &[0x7c, 0x85, 1])).unwrap();
    assert_eq!(
        d.push(&packet(2, 3000, true, SLICE)),
        Err(DepacketizeError::Incomplete { sequence: 2 })
    );
    let unit = d.pop().unwrap();
    assert_eq!((unit.timestamp, unit.discontinuity), (3000, true));
    assert_eq!(unit.data, avcc(&[SLICE]));
}

/// No sprop-parameter-sets in the SDP: the first in-band SPS/PPS announce themselves; the same
/// ones again do not; a changed PPS does.
#[test]
fn in_band_parameter_sets() {
    let mut d = no_sdp();
    assert_eq!(d.avc_config(), None);
    d.push(&packet(1, 0, false, SPS)).unwrap();
    d.push(&packet(2, 0, false, PPS)).unwrap();
    d.push(&packet(3, 0, true, IDR)).unwrap();
    assert!(d.pop().unwrap().new_parameters);
    assert!(d.avc_config().is_some());
    d.push(&packet(4, 3000, false, STAP_A_SPS_PPS)).unwrap();
    d.push(&packet(5, 3000, true, IDR)).unwrap();
    assert!(!d.pop().unwrap().new_parameters);
    d.push(&packet(6, 6000, false, &[0x68, 0xee, 0x3c, 0x80]))
        .unwrap();
    d.push(&packet(7, 6000, true, IDR)).unwrap();
    assert!(d.pop().unwrap().new_parameters);
    assert_eq!(d.pps().map(|p| &p[..]), Some(&[0x68, 0xee, 0x3c, 0x80][..]));

    // Known from the SDP: nothing new when the stream repeats them.
    let params = H264Params::parse(
        "packetization-mode=1;sprop-parameter-sets=Z01AHuygUBf8uAiAAAADAIAAABkHixbL,aOvjyyA=",
    );
    let mut d = depacketizer(&params);
    assert!(d.avc_config().is_some());
    d.push(&packet(1, 0, false, STAP_A_SPS_PPS)).unwrap();
    d.push(&packet(2, 0, true, IDR)).unwrap();
    assert!(!d.pop().unwrap().new_parameters);
}

/// Reolink: the SPS/PPS packet carries the marker bit and a timestamp of its own; they join
/// the IDR that follows, with its timestamp.
#[test]
fn reolink_parameter_sets_with_their_own_marker_and_timestamp() {
    let mut d = no_sdp();
    d.push(&packet(1, 0, true, STAP_A_SPS_PPS)).unwrap();
    assert_eq!(d.pop(), None);
    d.push(&packet(2, 1, true, IDR)).unwrap();
    let unit = d.pop().unwrap();
    assert_eq!(unit.timestamp, 1);
    assert_eq!(unit.data, avcc(&[SPS, PPS, IDR]));
    assert!(unit.keyframe && unit.new_parameters);
}

/// Annex B start codes inside a single NAL unit packet, and a FU-A with both start and end
/// bits: tolerated.
#[test]
fn annex_b_in_a_packet_and_single_fragment_fu_a() {
    let mut d = no_sdp();
    let mut annexb = vec![0, 0, 0, 1];
    annexb.extend_from_slice(SPS);
    annexb.extend_from_slice(&[0, 0, 1]);
    annexb.extend_from_slice(PPS);
    annexb.extend_from_slice(&[0, 0, 0, 1]);
    d.push(&packet(1, 0, false, &annexb)).unwrap();
    // A NAL unit followed by a start code and another (no leading start code).
    let mut embedded = SLICE.to_vec();
    embedded.extend_from_slice(&[0, 0, 0, 1]);
    embedded.extend_from_slice(SLICE);
    d.push(&packet(2, 0, false, &embedded)).unwrap();
    d.push(&packet(
        3,
        0,
        true,
        &[0x7c, 0xc5, 0x88, 0x84, 0x00, 0x33, 0xff],
    ))
    .unwrap();
    let unit = d.pop().unwrap();
    assert_eq!(unit.data, avcc(&[SPS, PPS, SLICE, SLICE, IDR]));
}

#[test]
fn malformed_and_unsupported() {
    let cases: &[(&[u8], DepacketizeError)] = &[
        (
            &[],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "empty payload",
            },
        ),
        (
            &[0xe5, 1],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "forbidden_zero_bit set",
            },
        ),
        (
            &[0x79, 0, 0, 0],
            DepacketizeError::Unsupported {
                sequence: 1,
                what: "STAP-B (interleaved mode)",
            },
        ),
        (
            &[0x7d, 0x85, 0],
            DepacketizeError::Unsupported {
                sequence: 1,
                what: "FU-B (interleaved mode)",
            },
        ),
        (
            &[0x78],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "aggregation packet without units",
            },
        ),
        (
            &[0x78, 0x00, 0x05, 0x67],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "aggregation unit runs past the packet",
            },
        ),
        (
            &[0x78, 0x00, 0x00],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "empty aggregation unit",
            },
        ),
        (
            &[0x78, 0x00, 0x01, 0x67, 0x00],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "aggregation unit size cut",
            },
        ),
        (
            &[0x7c],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "fragmentation unit without its FU header",
            },
        ),
        (
            &[0x7c, 0x05, 1, 2],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "fragment without its start",
            },
        ),
        (
            &[0x7c, 0x9c, 1, 2],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "fragmentation unit of a packet type",
            },
        ),
    ];
    for (payload, err) in cases {
        let mut d = no_sdp();
        assert_eq!(
            d.push(&packet(1, 0, true, payload)).as_ref(),
            Err(err),
            "{payload:?}"
        );
        assert_eq!(d.stats().dropped_packets, 1);
        // The next picture is fine.
        d.push(&packet(2, 3000, true, SLICE)).unwrap();
        assert!(d.pop().unwrap().discontinuity);
    }
    // A marker bit inside an open fragment.
    let mut d = no_sdp();
    d.push(&packet(1, 0, false, &[0x7c, 0x85, 1])).unwrap();
    assert!(matches!(
        d.push(&packet(2, 0, true, &[0x7c, 0x05, 2])),
        Err(DepacketizeError::Malformed { .. })
    ));
    // A packet within a dropped picture: skipped.
    let mut d = no_sdp();
    assert!(d.push(&packet(1, 0, false, &[0x7c, 0x05, 1])).is_err());
    d.push(&packet(2, 0, true, SLICE)).unwrap();
    assert_eq!(d.pop(), None);
    d.push(&packet(3, 3000, true, SLICE)).unwrap();
    assert!(d.pop().is_some());
}

#[test]
fn packetizer_refuses_bad_units() {
    let mut p = packetizer(writer(), 1400, 4);
    let mut out = Vec::new();
    for (au, what) in [
        (&b""[..], "access unit without NAL units"),
        (&[0, 0, 0, 0][..], "access unit without NAL units"),
        (
            &[0, 0, 0, 9, 0x65][..],
            "NAL length runs past the access unit",
        ),
        (&[0, 0, 0, 1, 0xe5][..], "NAL unit without a valid header"),
        (
            &[0, 0, 0, 2, 0x7c, 0x85][..],
            "NAL unit of a type RTP uses for its packets",
        ),
        (
            &[0, 0, 0, 1, 0x00][..],
            "NAL unit of a type RTP uses for its packets",
        ),
    ] {
        assert_eq!(
            p.packetize(0, au, &mut out),
            Err(PacketizeError::Malformed { what })
        );
    }
    assert!(out.is_empty());
    assert_eq!(p.next_sequence(), 0xfffe);
    let mut bad_size = packetizer(writer(), 1400, 5);
    assert!(bad_size.packetize(0, &avcc(&[IDR]), &mut out).is_err());
}

/// Mutated packets of a real stream: no panic, every unit given out is well-formed AVCC no
/// larger than the cap, the counters add up.
#[test]
fn fuzz_depacketize_no_panic() {
    let mut p = packetizer(writer(), 100, 4);
    let mut packets = Vec::new();
    for i in 0..20u32 {
        let slice = big_slice(if i % 5 == 0 { 0x65 } else { 0x41 }, 50 + 40 * i as usize);
        let nals: Vec<&[u8]> = if i % 5 == 0 {
            vec![SPS, PPS, &slice]
        } else {
            vec![&slice]
        };
        p.packetize(i * 3000, &avcc(&nals), &mut packets).unwrap();
    }
    let mut rng = XorShift(0xdead_beef_1234);
    for _ in 0..300 {
        let mut d = no_sdp().with_max_access_unit(0);
        for bytes in &packets {
            let mut raw = bytes.to_vec();
            match rng.below(10) {
                0 => continue,
                1 => {
                    let at = 12 + rng.below(raw.len() - 12);
                    raw[at] = rng.next() as u8;
                }
                2 => raw.truncate(12 + rng.below(raw.len() - 11)),
                3 => raw[1] ^= 0x80,
                4 => raw[4] ^= 1,
                _ => {}
            }
            if let Ok(packet) = RtpPacket::decode(Bytes::from(raw)) {
                let _ = d.push(&packet);
            }
            while let Some(unit) = d.pop() {
                assert!(unit.data.len() <= MIN_MAX_ACCESS_UNIT);
                for nal in NalUnits::new(&unit.data, 4).unwrap() {
                    assert!(!nal.unwrap().is_empty());
                }
            }
        }
        let stats = d.stats();
        assert!(stats.access_units + stats.dropped_access_units <= stats.packets);
    }
}
