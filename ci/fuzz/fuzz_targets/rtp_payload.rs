//! RTP payload formats. The first byte selects the codec (low 2 bits: H.264, H.265, AAC-hbr,
//! G.711/Opus) and the mode (bit 2). Depacketize mode: the rest is a series of packets
//! (flags byte: bit 0 marker, bit 1 next timestamp, bits 2-3 sequence numbers skipped; a
//! length byte; that many payload bytes): no panic, every access unit is within the cap and,
//! for video, well-formed AVCC; the counters add up. Packetize mode: the rest is one access
//! unit (for video, NAL units with 4-byte lengths); what the packetizer accepts comes back
//! whole from the depacketizer (video: when the unit has picture data, which is what ends a
//! unit, and no start code inside a NAL unit, which the depacketizer would split at).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::NalUnits;
use tinysrs::wire::rtp::{Depacketizer, Packetizer, RtpPacket, RtpWriter, MIN_MAX_ACCESS_UNIT};
use tinysrs::wire::sdp::fmtp::{AacParams, H264Params, H265Params, PayloadFormat};

fn format(selector: u8) -> PayloadFormat {
    match selector & 3 {
        0 => PayloadFormat::H264(H264Params::parse("packetization-mode=1")),
        1 => PayloadFormat::H265(H265Params::parse("")),
        2 => PayloadFormat::Aac(AacParams::hbr(Bytes::from_static(&[0x12, 0x10])).unwrap()),
        _ => PayloadFormat::Pcma { channels: 1 },
    }
}

fn check_unit(video: bool, data: &[u8]) {
    assert!(data.len() <= MIN_MAX_ACCESS_UNIT);
    if video {
        for nal in NalUnits::new(data, 4).unwrap() {
            assert!(!nal.expect("AVCC lengths frame the unit").is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let format = format(selector);
    let video = selector & 3 < 2;
    let mut d = Depacketizer::new(&format).with_max_access_unit(0);
    if selector & 4 == 0 {
        let (mut sequence, mut timestamp) = (0u16, 0u32);
        let mut pushed = 0u64;
        while let [flags, len, tail @ ..] = rest {
            let len = usize::from(*len).min(tail.len());
            let (payload, after) = tail.split_at(len);
            rest = after;
            sequence = sequence.wrapping_add(1 + u16::from((flags >> 2) & 3));
            if flags & 2 != 0 {
                timestamp = timestamp.wrapping_add(3000);
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
                check_unit(video, &unit.data);
            }
        }
        let stats = d.stats();
        assert_eq!(stats.packets, pushed);
        assert!(stats.dropped_packets <= stats.packets);
        return;
    }
    let nals: Vec<&[u8]> = match NalUnits::new(rest, 4) {
        Ok(units) if video => units
            .filter_map(Result::ok)
            .filter(|n| !n.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    if nals.iter().any(|n| n.windows(3).any(|w| w == [0, 0, 1])) {
        return;
    }
    let vcl = nals.iter().any(|n| match selector & 3 {
        0 => (1..=5).contains(&(n[0] & 0x1f)),
        _ => (n[0] >> 1) & 0x3f < 32,
    });
    let writer = RtpWriter {
        payload_type: 96,
        ssrc: 1,
        sequence: u16::from(selector) << 8,
    };
    let mtu = 64 + usize::from(selector >> 3) * 40;
    let mut p = Packetizer::new(&format, writer, mtu, 4);
    let mut packets = Vec::new();
    if p.packetize(90_000, rest, &mut packets).is_err() {
        assert!(packets.is_empty());
        return;
    }
    let mut units = Vec::new();
    for bytes in packets {
        assert!(bytes.len() <= 12 + mtu.max(rest.len().min(65_000)));
        let packet = RtpPacket::decode(bytes).expect("ours decodes");
        d.push(&packet).expect("ours depacketizes");
        while let Some(unit) = d.pop() {
            units.push(unit);
        }
    }
    match selector & 3 {
        // G.711 comes back in pieces; their concatenation is the unit.
        3 => assert_eq!(
            units
                .iter()
                .flat_map(|u| u.data.to_vec())
                .collect::<Vec<_>>(),
            rest
        ),
        _ => {
            if video {
                if !vcl {
                    assert!(units.is_empty(), "a unit without picture data waits");
                    return;
                }
                assert_eq!(units.len(), 1);
                let got: Vec<&[u8]> = NalUnits::new(&units[0].data, 4)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(
                    got, nals,
                    "empty NAL units are not sent, the rest come back"
                );
            } else {
                assert_eq!(units.len(), 1);
                assert_eq!(&units[0].data[..], rest);
            }
            assert_eq!(units[0].timestamp, 90_000);
        }
    }
});
