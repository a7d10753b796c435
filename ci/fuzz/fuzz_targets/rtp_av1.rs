//! AV1 RTP packetizer (`wire::rtp::av1`): the publisher's temporal unit (any bytes) never
//! panics, and what it packetizes keeps the payload format's rules. Input: a flags byte (bit 0
//! keyframe, bits 1-7 the MTU: 64 + 16 x value), a length byte and that many bytes of an `av1C`
//! record's configOBUs, then the temporal unit. Oracle: every payload at most the MTU with at
//! least one element byte; W = 0; Z on a packet exactly when the one before had Y; N only on
//! the first; the elements, fragments joined, have obu_has_size_field clear and are no
//! temporal delimiters, tile lists or padding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtp::av1::{sequence_header, Packetizer};

/// leb128 of the packetizer's own output (well-formed by the oracle's check).
fn leb128(data: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    for (i, b) in data.iter().enumerate().take(8) {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("leb128 of the packetizer's output is cut: {data:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, config_len], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Some((config, tu)) = rest.split_at_checked(usize::from(config_len)) else {
        return;
    };
    let mtu = 64 + usize::from(flags >> 1) * 16;
    let keyframe = flags & 1 != 0;
    let mut out = Vec::new();
    if Packetizer::new(mtu)
        .packetize(tu, keyframe, sequence_header(config), &mut out)
        .is_err()
    {
        assert!(out.is_empty());
        return;
    }
    let mut open: Option<Vec<u8>> = None;
    let mut elements = Vec::new();
    for (i, p) in out.iter().enumerate() {
        assert!(p.len() > 1 && p.len() <= mtu, "payload of {} bytes", p.len());
        let header = p[0];
        assert_eq!(header & 0x30, 0, "W = 0");
        assert_eq!(header & 0x07, 0, "reserved bits");
        assert_eq!(header & 0x80 != 0, open.is_some(), "Z follows Y");
        assert!(i == 0 || header & 0x08 == 0, "N on the first packet only");
        let mut rest = &p[1..];
        let mut first = true;
        while !rest.is_empty() {
            let (len, n) = leb128(rest);
            let e = rest.get(n..n + len).expect("element within the payload");
            assert!(len > 0, "empty element");
            match (first, open.take()) {
                (true, Some(mut o)) => {
                    o.extend_from_slice(e);
                    elements.push(o);
                }
                _ => elements.push(e.to_vec()),
            }
            first = false;
            rest = &rest[n + len..];
        }
        if header & 0x40 != 0 {
            open = elements.pop();
        }
    }
    assert!(open.is_none(), "the last packet has Y");
    for e in &elements {
        assert_eq!(e[0] & 0x82, 0, "forbidden bit or obu_has_size_field");
        assert!(!matches!((e[0] >> 3) & 0xf, 2 | 8 | 15), "dropped OBU type sent");
    }
});
