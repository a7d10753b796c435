//! RFC 3640 AAC-hbr layouts as golden bytes, several units per packet, fragments, loss,
//! optional AU-header fields, a round trip and a mutation loop.

use bytes::Bytes;

use super::*;
use crate::testutil::XorShift;
use crate::wire::rtp::payload::MIN_MTU;

fn hbr() -> AacParams {
    AacParams::hbr(Bytes::from_static(&[0x12, 0x10])).unwrap()
}

fn packet(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
    RtpPacket {
        marker,
        payload_type: 97,
        sequence,
        timestamp,
        ssrc: 9,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// A payload of whole units: AU-headers-length, one 16-bit AU-header per unit (13-bit size,
/// index 0), the units.
fn whole(units: &[&[u8]]) -> Vec<u8> {
    let mut out = ((units.len() * 16) as u16).to_be_bytes().to_vec();
    for u in units {
        out.extend_from_slice(&((u.len() as u16) << 3).to_be_bytes());
    }
    for u in units {
        out.extend_from_slice(u);
    }
    out
}

fn writer() -> RtpWriter {
    RtpWriter {
        payload_type: 97,
        ssrc: 9,
        sequence: 0,
    }
}

#[test]
fn hbr_golden() {
    let au: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    let mut p = Packetizer::new(writer(), 1400);
    let mut out = Vec::new();
    p.packetize(44_100, &au, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    // RTP header with the marker, then AU-headers-length 16, AU-size 200 (0x0c8 << 3).
    assert_eq!(
        &out[0][..16],
        &[0x80, 0xe1, 0, 0, 0, 0, 0xac, 0x44, 0, 0, 0, 9, 0x00, 0x10, 0x06, 0x40]
    );
    assert_eq!(&out[0][16..], &au[..]);
    let mut d = Depacketizer::new(&hbr());
    d.push(&RtpPacket::decode(out[0].clone()).unwrap()).unwrap();
    let unit = d.pop().unwrap();
    assert_eq!((unit.timestamp, &unit.data[..]), (44_100, &au[..]));
    assert!(!unit.keyframe && !unit.discontinuity);
}

/// Three units in one packet: each with the packet's timestamp plus 1024 per unit before it.
#[test]
fn several_units_per_packet() {
    let mut d = Depacketizer::new(&hbr());
    let (a, b, c) = (&[1u8; 10][..], &[2u8; 20][..], &[3u8; 30][..]);
    d.push(&packet(7, 0xffff_fc00, true, &whole(&[a, b, c])))
        .unwrap();
    let units: Vec<_> = std::iter::from_fn(|| d.pop())
        .map(|u| (u.timestamp, u.data))
        .collect();
    assert_eq!(
        units,
        [
            (0xffff_fc00, Bytes::from_static(&[1; 10])),
            (0, Bytes::from_static(&[2; 20])),
            (1024, Bytes::from_static(&[3; 30])),
        ]
    );
    assert_eq!(d.stats().access_units, 3);
}

/// A unit over the MTU goes in fragments (each with the whole unit's AU-size), marker on the
/// last; a lost fragment drops the unit and the fragments after it until the marker.
#[test]
fn fragments_and_loss() {
    let au: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
    let mut p = Packetizer::new(writer(), MIN_MTU);
    let mut out = Vec::new();
    p.packetize(0, &au, &mut out).unwrap();
    p.packetize(1024, &au[..100], &mut out).unwrap();
    p.packetize(2048, &au[..10], &mut out).unwrap();
    // 200 bytes in pieces of 60, then 100 in 60 + 40, then 10.
    assert_eq!(out.len(), 4 + 2 + 1);
    let packets: Vec<RtpPacket> = out
        .iter()
        .map(|b| RtpPacket::decode(b.clone()).unwrap())
        .collect();
    let markers: Vec<bool> = packets.iter().map(|p| p.marker).collect();
    assert_eq!(markers, [false, false, false, true, false, true, true]);
    for p in &packets[..4] {
        assert_eq!(&p.payload[..4], &[0x00, 0x10, 0x06, 0x40]);
    }

    let mut d = Depacketizer::new(&hbr());
    for p in &packets {
        d.push(p).unwrap();
    }
    let units: Vec<_> = std::iter::from_fn(|| d.pop())
        .map(|u| u.data.len())
        .collect();
    assert_eq!(units, [200, 100, 10]);

    // Lose the second fragment of the first unit, and the first of the second.
    let mut d = Depacketizer::new(&hbr());
    for (i, p) in packets.iter().enumerate() {
        if i != 1 && i != 4 {
            d.push(p).unwrap();
        }
    }
    let units: Vec<_> = std::iter::from_fn(|| d.pop()).collect();
    assert_eq!(units.len(), 1);
    assert_eq!((units[0].data.len(), units[0].discontinuity), (10, true));
    let stats = d.stats();
    assert_eq!(stats.lost_packets, 2);
    assert_eq!(stats.dropped_access_units, 1);
    assert_eq!(stats.dropped_packets, 3);
}

/// CTS-delta, DTS-delta, RAP flag and stream state in the AU-headers, and an auxiliary
/// section: read past, the units come out.
#[test]
fn optional_header_fields_and_auxiliary_section() {
    let params = AacParams::parse(
        "mode=AAC-hbr;config=1210;sizelength=13;indexlength=3;indexdeltalength=3;\
         ctsdeltalength=16;dtsdeltalength=6;randomaccessindication=1;streamstateindication=2;\
         auxiliarydatasizelength=8",
        44_100,
    )
    .unwrap();
    // Unit 1: size 3, index 0, CTS-flag 1 + 16 bits, DTS-flag 0, RAP 1, state 2 bits.
    // Unit 2: size 2, index-delta 0, CTS-flag 0, DTS-flag 1 + 6 bits, RAP 0, state 2 bits.
    let mut bits = String::new();
    bits += &format!("{:013b}{:03b}1{:016b}01{:02b}", 3, 0, 0x1234, 1);
    bits += &format!("{:013b}{:03b}01{:06b}0{:02b}", 2, 0, 5, 3);
    let header_bits = bits.len();
    while bits.len() % 8 != 0 {
        bits.push('0');
    }
    let mut payload = (header_bits as u16).to_be_bytes().to_vec();
    payload.extend(
        (0..bits.len() / 8).map(|i| u8::from_str_radix(&bits[8 * i..8 * i + 8], 2).unwrap()),
    );
    // Auxiliary section: 8-bit size 16, then 16 bits of data.
    payload.extend_from_slice(&[16, 0xaa, 0xbb]);
    payload.extend_from_slice(b"xyzuv");
    let mut d = Depacketizer::new(&params);
    d.push(&packet(1, 0, true, &payload)).unwrap();
    let units: Vec<_> = std::iter::from_fn(|| d.pop()).map(|u| u.data).collect();
    assert_eq!(units, [&b"xyz"[..], &b"uv"[..]]);
}

#[test]
fn errors() {
    let interleaved = {
        // Two headers, the second with AU-Index-delta 1.
        let mut p = vec![0x00, 0x20, 0x00, 0x08, 0x00, 0x09];
        p.extend_from_slice(&[1, 2]);
        p
    };
    let cases: &[(&[u8], DepacketizeError)] = &[
        (
            &[0x00],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "no AU-headers-length",
            },
        ),
        (
            &[0x00, 0x10, 0x06],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "AU-headers run past the packet",
            },
        ),
        (
            &[0x00, 0x00],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "no AU-header",
            },
        ),
        (
            &[0x00, 0x0c, 0x00, 0x10],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "AU-header cut",
            },
        ),
        (
            &[0x00, 0x20, 0x00, 0x18, 0x00, 0x18, 1, 2, 3, 4, 5],
            DepacketizeError::Malformed {
                sequence: 1,
                what: "AU sizes exceed the payload",
            },
        ),
        (
            &interleaved,
            DepacketizeError::Unsupported {
                sequence: 1,
                what: "interleaving (AU-Index-delta)",
            },
        ),
    ];
    for (payload, err) in cases {
        let mut d = Depacketizer::new(&hbr());
        assert_eq!(
            d.push(&packet(1, 0, true, payload)).as_ref(),
            Err(err),
            "{payload:?}"
        );
        d.push(&packet(2, 1024, true, &whole(&[b"ok"]))).unwrap();
        assert!(d.pop().unwrap().discontinuity);
    }
    // More AU-headers than MAX_AUS_PER_PACKET.
    let units: Vec<&[u8]> = vec![b"a"; MAX_AUS_PER_PACKET + 1];
    let mut d = Depacketizer::new(&hbr());
    assert_eq!(
        d.push(&packet(1, 0, true, &whole(&units))),
        Err(DepacketizeError::Malformed {
            sequence: 1,
            what: "too many AU-headers"
        })
    );
    // A fragment whose pieces overrun its AU-size, and one whose unit never completes before
    // the next begins.
    let mut d = Depacketizer::new(&hbr());
    let frag = |data: &[u8]| {
        let mut p = vec![0x00, 0x10, 0x00, 0x28]; // size 5
        p.extend_from_slice(data);
        p
    };
    d.push(&packet(1, 0, false, &frag(b"abc"))).unwrap();
    assert!(matches!(
        d.push(&packet(2, 0, true, &frag(b"defg"))),
        Err(DepacketizeError::Malformed { .. })
    ));
    d.push(&packet(3, 1024, false, &frag(b"abc"))).unwrap();
    assert_eq!(
        d.push(&packet(4, 2048, true, &whole(&[b"next"]))),
        Err(DepacketizeError::Incomplete { sequence: 4 })
    );
    let unit = d.pop().unwrap();
    assert_eq!((&unit.data[..], unit.discontinuity), (&b"next"[..], true));
    // A unit declared larger than the cap is refused before anything is kept.
    let params = AacParams::parse("mode=AAC-hbr;config=1210;sizelength=32", 44_100).unwrap();
    let mut d = Depacketizer::new(&params);
    let mut big = vec![0x00, 0x23, 0xff, 0xff, 0xff, 0xff, 0x00];
    big.extend_from_slice(b"abc");
    assert!(matches!(
        d.push(&packet(1, 0, false, &big)),
        Err(DepacketizeError::TooLarge { .. })
    ));
    // Packetizer limits.
    let mut p = Packetizer::new(writer(), 1400);
    let mut out = Vec::new();
    assert!(p.packetize(0, &[], &mut out).is_err());
    assert_eq!(
        p.packetize(0, &vec![0; MAX_HBR_ACCESS_UNIT + 1], &mut out),
        Err(PacketizeError::TooLarge {
            len: MAX_HBR_ACCESS_UNIT + 1,
            limit: MAX_HBR_ACCESS_UNIT
        })
    );
    assert!(out.is_empty());
}

#[test]
fn round_trip_and_mutations() {
    let mut rng = XorShift(0xaac0_aac0);
    let mut p = Packetizer::new(writer(), 300);
    let mut packets = Vec::new();
    let mut sent = Vec::new();
    for i in 0..50u32 {
        let len = 1 + rng.below(1500);
        let au: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        p.packetize(i * 1024, &au, &mut packets).unwrap();
        sent.push((i * 1024, au));
    }
    let mut d = Depacketizer::new(&hbr());
    let mut got = Vec::new();
    for bytes in &packets {
        d.push(&RtpPacket::decode(bytes.clone()).unwrap()).unwrap();
        got.extend(std::iter::from_fn(|| d.pop()).map(|u| (u.timestamp, u.data.to_vec())));
    }
    assert!(got == sent);

    for _ in 0..300 {
        let mut d = Depacketizer::new(&hbr());
        for bytes in &packets {
            let mut raw = bytes.to_vec();
            match rng.below(8) {
                0 => continue,
                1 => {
                    let at = 12 + rng.below(raw.len() - 12);
                    raw[at] = rng.next() as u8;
                }
                2 => raw.truncate(12 + rng.below(raw.len() - 11)),
                _ => {}
            }
            if let Ok(packet) = RtpPacket::decode(Bytes::from(raw)) {
                let _ = d.push(&packet);
            }
            while let Some(unit) = d.pop() {
                assert!(!unit.data.is_empty() && unit.data.len() < 8192);
            }
        }
    }
}
