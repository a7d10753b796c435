//! MP4A-LATM (RFC 6416): the first byte selects the mode. Bit 0 clear: the rest is a
//! StreamMuxConfig, read through `a=fmtp` as hex: no panic, a config that is taken holds an
//! AudioSpecificConfig that parses and is no longer than the StreamMuxConfig. Bit 0 set,
//! bit 1 clear: the rest is a series of packets (flags byte: bit 0 marker, bit 1 next
//! timestamp, bits 2-3 sequence numbers skipped; a length byte; that many payload bytes) for
//! the depacketizer: no panic, every frame within the cap, the counters add up. Bits 0 and 1
//! set: the rest is one AAC frame: what the packetizer accepts comes back whole.
#![no_main]

use std::fmt::Write as _;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtp::latm::{Depacketizer, Packetizer, MAX_ELEMENT};
use tinysrs::wire::rtp::{RtpPacket, RtpWriter};
use tinysrs::wire::sdp::fmtp::LatmParams;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let mut fmtp = "cpresent=0;config=".to_owned();
        for b in rest {
            let _ = write!(fmtp, "{b:02x}");
        }
        if let Ok(p) = LatmParams::parse(&fmtp, 48_000, None) {
            assert!(p.config.len() <= rest.len());
            assert!(p.aac_config().is_ok());
            assert!(p.frame_duration > 0);
        }
        return;
    }
    // GStreamer's 44.1 kHz mono config.
    let params = LatmParams::parse("cpresent=0;config=40002410adca00", 44_100, None).unwrap();
    let mut d = Depacketizer::new(&params);
    if selector & 2 == 0 {
        let (mut sequence, mut timestamp) = (0u16, 0u32);
        let mut pushed = 0u64;
        while let [flags, len, tail @ ..] = rest {
            let len = usize::from(*len).min(tail.len());
            let (payload, after) = tail.split_at(len);
            rest = after;
            sequence = sequence.wrapping_add(1 + u16::from((flags >> 2) & 3));
            if flags & 2 != 0 {
                timestamp = timestamp.wrapping_add(1024);
            }
            let packet = RtpPacket {
                marker: flags & 1 != 0,
                payload_type: 96,
                sequence,
                timestamp,
                ssrc: 1,
                payload: Bytes::copy_from_slice(payload),
            };
            let _ = d.push(&packet);
            pushed += 1;
            while let Some(unit) = d.pop() {
                assert!(!unit.data.is_empty() && unit.data.len() <= MAX_ELEMENT);
            }
        }
        let stats = d.stats();
        assert_eq!(stats.packets, pushed);
        assert!(stats.dropped_packets <= stats.packets);
        return;
    }
    let writer = RtpWriter {
        payload_type: 96,
        ssrc: 1,
        sequence: u16::from(selector) << 8,
    };
    let mtu = 64 + usize::from(selector >> 2) * 20;
    let mut p = Packetizer::new(writer, mtu);
    let mut packets = Vec::new();
    if p.packetize(1000, rest, &mut packets).is_err() {
        assert!(packets.is_empty());
        return;
    }
    let mut units = Vec::new();
    for bytes in packets {
        let packet = RtpPacket::decode(bytes).expect("ours decodes");
        assert!(packet.payload.len() <= mtu);
        d.push(&packet).expect("ours depacketizes");
        units.extend(std::iter::from_fn(|| d.pop()));
    }
    assert_eq!(units.len(), 1);
    assert_eq!(&units[0].data[..], rest);
    assert_eq!(units[0].timestamp, 1000);
});
