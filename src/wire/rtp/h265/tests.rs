//! RFC 7798 packet layouts as golden bytes, a round trip, IRAP detection, in-band parameter
//! sets. The machinery shared with H.264 is tested in depth there.

use bytes::Bytes;

use super::*;
use crate::testutil::XorShift;
use crate::wire::rtp::payload::MIN_MTU;
use crate::wire::rtp::DepacketizeError;
use crate::wire::rtp::RtpPacket;

/// x265's VPS, SPS (Main, 640x360) and PPS.
const VPS: &[u8] = &[
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x03, 0x00, 0x3f, 0x95, 0x98, 0x09,
];
const SPS: &[u8] = &[
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x9a, 0x49, 0x32, 0xbc, 0x05, 0xa0, 0x20,
    0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0x21,
];
const PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
/// An IDR_W_RADL slice (type 19) and a TRAIL_R slice (type 1); filler bodies.
const IDR: &[u8] = &[0x26, 0x01, 0xaf, 0x09, 0x40, 0xf3];
const TRAIL: &[u8] = &[0x02, 0x01, 0xd0, 0x09, 0x7e];

/// RFC 7798 §4.4.2 Figure 7: an AP (PayloadHdr type 48, LayerId 0, TID 1) of the VPS, SPS and
/// PPS, each with its 16-bit size.
fn ap_of_parameter_sets() -> Vec<u8> {
    let mut ap = vec![0x60, 0x01];
    for nal in [VPS, SPS, PPS] {
        ap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        ap.extend_from_slice(nal);
    }
    ap
}

fn hvcc(nals: &[&[u8]]) -> Bytes {
    crate::wire::rtp::nal::length_prefixed(nals)
}

fn packet(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
    RtpPacket {
        marker,
        payload_type: 98,
        sequence,
        timestamp,
        ssrc: 42,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn writer() -> RtpWriter {
    RtpWriter {
        payload_type: 98,
        ssrc: 42,
        sequence: 100,
    }
}

#[test]
fn ap_and_fu_golden() {
    let mut d = depacketizer(&H265Params::parse(""));
    d.push(&packet(1, 0, false, &ap_of_parameter_sets()))
        .unwrap();
    // FU: PayloadHdr type 49 (0x62 0x01), FU header S/E bits with FuType 19.
    d.push(&packet(2, 0, false, &[0x62, 0x01, 0x93, 0xaf, 0x09]))
        .unwrap();
    d.push(&packet(3, 0, true, &[0x62, 0x01, 0x53, 0x40, 0xf3]))
        .unwrap();
    d.push(&packet(4, 3600, true, TRAIL)).unwrap();
    let idr = d.pop().unwrap();
    assert_eq!(idr.data, hvcc(&[VPS, SPS, PPS, IDR]));
    assert!(idr.keyframe && idr.new_parameters && !idr.discontinuity);
    let trail = d.pop().unwrap();
    assert_eq!((trail.timestamp, trail.keyframe), (3600, false));
    assert_eq!(trail.data, hvcc(&[TRAIL]));
    let info = d.hevc_config().unwrap().sps_info().unwrap();
    assert_eq!((info.width, info.height), (640, 360));
    assert_eq!(d.vps().map(|v| &v[..]), Some(VPS));

    // Our packetizer writes the same layouts.
    let mut p = packetizer(writer(), MIN_MTU, 4);
    let mut big_idr = IDR[..2].to_vec();
    big_idr.extend((0..100).map(|i| i as u8 + 1));
    let mut out = Vec::new();
    p.packetize(0, &hvcc(&[VPS, SPS, PPS, &big_idr]), &mut out)
        .unwrap();
    let payloads: Vec<&[u8]> = out.iter().map(|b| &b[12..]).collect();
    // VPS and SPS with their sizes do not fit 64 bytes together: the VPS goes alone, the
    // SPS and PPS share an AP, the IDR goes in FUs of 61 bytes.
    assert_eq!(payloads[0], VPS);
    let mut ap = vec![0x60, 0x01, 0x00, 42];
    ap.extend_from_slice(SPS);
    ap.extend_from_slice(&[0x00, 7]);
    ap.extend_from_slice(PPS);
    assert_eq!(payloads[1], &ap[..]);
    assert_eq!(&payloads[2][..3], &[0x62, 0x01, 0x93]);
    assert_eq!(&payloads[2][3..], &big_idr[2..63]);
    assert_eq!(&payloads[3][..3], &[0x62, 0x01, 0x53]);
    assert_eq!(&payloads[3][3..], &big_idr[63..]);
    assert_eq!(out.len(), 4);
    assert!(out[3][1] & 0x80 != 0 && out[2][1] & 0x80 == 0);

    let mut p = packetizer(writer(), 1400, 4);
    out.clear();
    p.packetize(0, &hvcc(&[VPS, SPS, PPS, IDR]), &mut out)
        .unwrap();
    let mut want = ap_of_parameter_sets();
    want.extend_from_slice(&(IDR.len() as u16).to_be_bytes());
    want.extend_from_slice(IDR);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][12..], &want[..]);
}

#[test]
fn round_trip() {
    let mut rng = XorShift(0x0265_0265);
    for round in 0..100 {
        let mtu = [MIN_MTU, 500, 1400][rng.below(3)];
        let mut p = packetizer(writer(), mtu, 4).with_aggregation(rng.below(2) == 0);
        let mut d = depacketizer(&H265Params::parse(""));
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for i in 0..4u32 {
            let keyframe = i == 0;
            let mut slice = if keyframe {
                IDR[..2].to_vec()
            } else {
                TRAIL[..2].to_vec()
            };
            slice.extend((0..rng.below(4000)).map(|i| (i % 250) as u8 + 1));
            let nals: Vec<&[u8]> = if keyframe {
                vec![VPS, SPS, PPS, &slice]
            } else {
                vec![&slice]
            };
            let au = hvcc(&nals);
            let mut out = Vec::new();
            p.packetize(i * 3600, &au, &mut out).unwrap();
            for bytes in out {
                d.push(&RtpPacket::decode(bytes).unwrap()).unwrap();
                while let Some(u) = d.pop() {
                    got.push((u.timestamp, u.data, u.keyframe));
                }
            }
            sent.push((i * 3600, au, keyframe));
        }
        assert!(got == sent, "round {round}");
    }
}

#[test]
fn unsupported_and_malformed() {
    let mut d = depacketizer(&H265Params::parse(""));
    assert_eq!(
        d.push(&packet(1, 0, true, &[0x64, 0x01, 0, 0])),
        Err(DepacketizeError::Unsupported {
            sequence: 1,
            what: "PACI"
        })
    );
    assert_eq!(
        d.push(&packet(2, 1, true, &[0x26])),
        Err(DepacketizeError::Malformed {
            sequence: 2,
            what: "shorter than a NAL unit header"
        })
    );
    assert_eq!(
        d.push(&packet(3, 2, true, &[0x60, 0x01, 0x00, 0x01, 0x26])),
        Err(DepacketizeError::Malformed {
            sequence: 3,
            what: "bad NAL unit header"
        })
    );
    d.push(&packet(4, 3, true, TRAIL)).unwrap();
    assert!(d.pop().unwrap().discontinuity);
    // Parameter sets from the SDP.
    let params = H265Params {
        vps: vec![Bytes::from_static(VPS)],
        sps: vec![Bytes::from_static(SPS)],
        pps: vec![Bytes::from_static(PPS)],
    };
    let d = depacketizer(&params);
    assert!(d.hevc_config().is_some());
}
