//! RFC 6416 LATM payloads as golden bytes (GStreamer's rtpmp4apay), several frames per
//! packet, fragments, loss, the size cap, packets cut at every byte, a round trip and a
//! mutation loop.

use bytes::Bytes;

use super::*;
use crate::testutil::XorShift;
use crate::wire::rtp::payload::MIN_MTU;

/// GStreamer's rtpmp4apay config for avenc_aac at 44.1 kHz mono.
fn gstreamer() -> LatmParams {
    LatmParams::parse("cpresent=0;config=40002410adca00", 44_100, None).unwrap()
}

fn packet(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
    RtpPacket {
        marker,
        payload_type: 96,
        sequence,
        timestamp,
        ssrc: 9,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn writer() -> RtpWriter {
    RtpWriter {
        payload_type: 96,
        ssrc: 9,
        sequence: 0,
    }
}

/// An element of one frame: PayloadLengthInfo, then the frame.
fn element(frame: &[u8]) -> Vec<u8> {
    let mut out = vec![255u8; frame.len() / 255];
    out.push((frame.len() % 255) as u8);
    out.extend_from_slice(frame);
    out
}

fn drain(d: &mut Depacketizer) -> Vec<AccessUnit> {
    std::iter::from_fn(|| d.pop()).collect()
}

/// The start of a packet of GStreamer's rtpmp4apay (avenc_aac, 44.1 kHz mono, silence-ish
/// sine): a 371-byte frame, PayloadLengthInfo `ff 74`, marker set.
#[test]
fn gstreamer_packet_golden() {
    let frame: Vec<u8> = (0..371u32).map(|i| (i * 7) as u8).collect();
    let mut payload = vec![0xff, 0x74];
    payload.extend_from_slice(&frame);
    let mut d = Depacketizer::new(&gstreamer());
    d.push(&packet(1, 1000, true, &payload)).unwrap();
    let units = drain(&mut d);
    assert_eq!(units.len(), 1);
    assert_eq!(&units[0].data[..], &frame[..]);
    assert_eq!(units[0].timestamp, 1000);
    assert!(!units[0].keyframe && !units[0].discontinuity);
    // Our packetizer writes the same bytes.
    let mut p = Packetizer::new(writer(), 1400);
    let mut out = Vec::new();
    p.packetize(1000, &frame, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..2], &[0x80, 0xe0]);
    assert_eq!(&out[0][12..], &payload[..]);
}

/// Several subframes (or elements) in one packet: one frame each, 1024 ticks apart; a
/// zero-length one is skipped.
#[test]
fn several_frames_in_a_packet() {
    let mut payload = element(b"first");
    payload.extend_from_slice(&element(&[]));
    payload.extend_from_slice(&element(&[7u8; 300]));
    let mut d = Depacketizer::new(&gstreamer());
    d.push(&packet(1, 5000, true, &payload)).unwrap();
    let units = drain(&mut d);
    assert_eq!(units.len(), 2);
    assert_eq!(&units[0].data[..], b"first");
    assert_eq!(units[0].timestamp, 5000);
    assert_eq!(&units[1].data[..], &[7u8; 300][..]);
    assert_eq!(units[1].timestamp, 5000 + 2 * 1024);
}

/// An element over three packets, the marker on the last; then a loss in the middle of the
/// next one drops it and the packets up to its marker, and the one after comes out marked
/// as a discontinuity.
#[test]
fn fragments_and_loss() {
    let frame: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
    let e = element(&frame);
    let mut d = Depacketizer::new(&gstreamer());
    d.push(&packet(1, 0, false, &e[..300])).unwrap();
    d.push(&packet(2, 0, false, &e[300..600])).unwrap();
    assert!(d.pop().is_none());
    d.push(&packet(3, 0, true, &e[600..])).unwrap();
    let units = drain(&mut d);
    assert_eq!(units.len(), 1);
    assert_eq!(&units[0].data[..], &frame[..]);
    // Packet 5 lost: 6 (the end of that element) is dropped too.
    d.push(&packet(4, 1024, false, &e[..300])).unwrap();
    d.push(&packet(6, 1024, true, &e[600..])).unwrap();
    assert!(d.pop().is_none());
    d.push(&packet(7, 2048, true, &element(b"next"))).unwrap();
    let units = drain(&mut d);
    assert_eq!(units.len(), 1);
    assert_eq!(&units[0].data[..], b"next");
    assert!(units[0].discontinuity);
    let stats = d.stats();
    assert_eq!(stats.lost_packets, 1);
    assert_eq!(stats.dropped_access_units, 1);
    assert_eq!(stats.dropped_packets, 1);
    assert_eq!(stats.access_units, 2);
}

/// A new timestamp before the marker: the unfinished element is dropped (`Incomplete`) and
/// the new packet used.
#[test]
fn unfinished_element_then_a_new_one() {
    let mut d = Depacketizer::new(&gstreamer());
    d.push(&packet(1, 0, false, &element(&[1u8; 100])[..50]))
        .unwrap();
    let err = d.push(&packet(2, 1024, true, &element(b"ok"))).unwrap_err();
    assert_eq!(err, DepacketizeError::Incomplete { sequence: 2 });
    let units = drain(&mut d);
    assert_eq!(units.len(), 1);
    assert_eq!(&units[0].data[..], b"ok");
    assert!(units[0].discontinuity);
}

/// Lengths that do not add up, an element that never ends, an empty payload.
#[test]
fn malformed_and_too_large() {
    let mut d = Depacketizer::new(&gstreamer());
    // The length says 10, 3 bytes follow.
    let err = d.push(&packet(1, 0, true, &[10, 1, 2, 3])).unwrap_err();
    assert!(
        matches!(err, DepacketizeError::Malformed { sequence: 1, .. }),
        "{err}"
    );
    // PayloadLengthInfo cut (only 255s).
    let err = d.push(&packet(2, 0, true, &[255, 255])).unwrap_err();
    assert!(matches!(err, DepacketizeError::Malformed { .. }), "{err}");
    // An empty marked payload: no frame, no error.
    d.push(&packet(3, 0, true, &[])).unwrap();
    assert!(d.pop().is_none());
    // Fragments past MAX_ELEMENT: dropped, then resync at the marker.
    let piece = [0u8; 1400];
    let mut too_large = false;
    for i in 0..8u16 {
        too_large |= matches!(
            d.push(&packet(4 + i, 1024, false, &piece)),
            Err(DepacketizeError::TooLarge {
                limit: MAX_ELEMENT,
                ..
            })
        );
    }
    assert!(too_large);
    d.push(&packet(12, 1024, true, &piece)).unwrap();
    d.push(&packet(13, 2048, true, &element(b"fine"))).unwrap();
    let units = drain(&mut d);
    assert_eq!(units.len(), 1);
    assert_eq!(&units[0].data[..], b"fine");
    assert_eq!(d.stats().too_large, 1);
}

/// A packet of two frames cut at every byte into two fragments (same timestamp, marker on
/// the second): the same frames come out.
#[test]
fn cut_at_every_byte() {
    let mut payload = element(&[3u8; 260]);
    payload.extend_from_slice(&element(b"tail"));
    for cut in 0..=payload.len() {
        let mut d = Depacketizer::new(&gstreamer());
        d.push(&packet(1, 0, false, &payload[..cut])).unwrap();
        assert!(d.pop().is_none(), "cut {cut}");
        d.push(&packet(2, 0, true, &payload[cut..])).unwrap();
        let units = drain(&mut d);
        assert_eq!(units.len(), 2, "cut {cut}");
        assert_eq!(&units[0].data[..], &[3u8; 260][..]);
        assert_eq!(&units[1].data[..], b"tail");
    }
}

/// What the packetizer writes comes back whole, at every MTU and size (fragmented with the
/// marker on the last); frames over the cap are refused.
#[test]
fn round_trip() {
    let mut rng = XorShift(7);
    for (len, mtu) in [(1, 1400), (254, 64), (255, 64), (510, 100), (6000, 1400)] {
        let frame: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut p = Packetizer::new(writer(), mtu);
        let mut out = Vec::new();
        p.packetize(77, &frame, &mut out).unwrap();
        let mut d = Depacketizer::new(&gstreamer());
        for (i, bytes) in out.iter().enumerate() {
            let packet = RtpPacket::decode(bytes.clone()).unwrap();
            assert!(packet.payload.len() <= mtu.max(MIN_MTU));
            assert_eq!(packet.marker, i + 1 == out.len());
            d.push(&packet).unwrap();
        }
        let units = drain(&mut d);
        assert_eq!(units.len(), 1, "{len} bytes, mtu {mtu}");
        assert_eq!(&units[0].data[..], &frame[..]);
        assert_eq!(units[0].timestamp, 77);
    }
    let mut p = Packetizer::new(writer(), 1400);
    let mut out = Vec::new();
    assert!(p.packetize(0, &[0u8; MAX_ELEMENT], &mut out).is_err());
    assert!(p.packetize(0, &[], &mut out).is_err());
    assert!(out.is_empty());
}

/// Random packets and mutations of good ones: no panic, frames within the cap, counters
/// consistent.
#[test]
fn mutations() {
    let mut rng = XorShift(42);
    let mut d = Depacketizer::new(&gstreamer());
    let good = element(&[9u8; 400]);
    for i in 0..20_000u32 {
        let mut payload = good.clone();
        let len = (rng.next() as usize) % (payload.len() + 1);
        payload.truncate(len);
        if let Some(b) = payload.get_mut((rng.next() as usize) % (len + 1)) {
            *b = rng.next() as u8;
        }
        let sequence = (i + u32::from(rng.next() % 16 == 0)) as u16;
        let _ = d.push(&packet(
            sequence,
            i / 3 * 1024,
            rng.next() % 3 != 0,
            &payload,
        ));
        while let Some(unit) = d.pop() {
            assert!(!unit.data.is_empty() && unit.data.len() <= MAX_ELEMENT);
        }
    }
    let stats = d.stats();
    assert_eq!(stats.packets, 20_000);
    assert!(stats.dropped_packets <= stats.packets);
}
