//! AV1 RTP depacketizer (`wire::rtp::av1_depacketizer`): any packets never panic and what
//! comes out is bounded. Input: packets, each a length byte, a flags byte (bit 0 marker, bit 1
//! a sequence gap before it, bit 2 a new timestamp) and that many payload bytes. Oracle: every
//! temporal unit is at most the cap, and is a well-formed OBU stream (each OBU with its
//! obu_size, no temporal delimiter). Then the input, read as one temporal unit and
//! packetized by `wire::rtp::av1` when it parses, comes back whole.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtp::av1::{Obus, Packetizer};
use tinysrs::wire::rtp::av1_depacketizer::Depacketizer;
use tinysrs::wire::rtp::RtpPacket;

const CAP: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut d = Depacketizer::new(CAP);
    let mut out = Vec::new();
    let (mut sequence, mut timestamp) = (0u16, 0u32);
    let mut rest = data;
    while let Some((&[len, flags], tail)) = rest.split_first_chunk::<2>() {
        let n = usize::from(len).min(tail.len());
        let packet = RtpPacket {
            marker: flags & 1 != 0,
            payload_type: 45,
            sequence: sequence.wrapping_add(u16::from(flags & 2 != 0)),
            timestamp: timestamp.wrapping_add(3000 * u32::from(flags & 4 != 0)),
            ssrc: 1,
            payload: Bytes::copy_from_slice(&tail[..n]),
        };
        sequence = packet.sequence.wrapping_add(1);
        timestamp = packet.timestamp;
        let _ = d.push(&packet, &mut out);
        rest = &tail[n..];
    }
    for unit in &out {
        assert!(unit.data.len() <= CAP);
        for obu in Obus::new(&unit.data) {
            let obu = obu.expect("a well-formed OBU");
            assert!(obu.header[0] & 0x02 != 0, "obu_has_size_field");
            assert_ne!(obu.obu_type(), 2, "no temporal delimiter");
        }
    }

    // Round trip: the input as a temporal unit (when every OBU in it parses).
    let Ok(obus) = Obus::new(data).collect::<Result<Vec<_>, _>>() else {
        return;
    };
    let mut payloads = Vec::new();
    if Packetizer::new(300)
        .packetize(data, false, None, &mut payloads)
        .is_err()
    {
        return;
    }
    let mut d = Depacketizer::new(1 << 20);
    let mut out = Vec::new();
    let n = payloads.len();
    for (i, payload) in payloads.into_iter().enumerate() {
        let packet = RtpPacket {
            marker: i + 1 == n,
            payload_type: 45,
            sequence: i as u16,
            timestamp: 0,
            ssrc: 1,
            payload: Bytes::from(payload),
        };
        d.push(&packet, &mut out).expect("our packetizer's packets");
    }
    let kept: Vec<_> = obus
        .iter()
        .filter(|o| !matches!(o.obu_type(), 2 | 8 | 15))
        .collect();
    if kept.is_empty() {
        assert!(out.is_empty());
        return;
    }
    assert_eq!(out.len(), 1);
    let back: Vec<_> = Obus::new(&out[0].data).map(|o| o.unwrap()).collect();
    assert_eq!(back.len(), kept.len());
    for (a, b) in back.iter().zip(&kept) {
        assert_eq!(a.payload, b.payload);
        assert_eq!(a.header[0] | 0x02, b.header[0] | 0x02);
        assert_eq!(a.header[1..], b.header[1..]);
    }
});
