//! RTP and RFC 4571 framing. The frame decoder (RTP's, and ICE-TCP's any-payload one with its
//! length limit), fed in random pieces, yields the same frames and error as fed at once; every RTP packet that decodes re-encodes to exactly
//! `encoded_len` bytes that decode to the same packet; the reorder buffer holds at most its
//! window and accounts for every packet pushed (delivered, duplicate or late, but for at most
//! one pending reset candidate).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtp::{self, FrameDecoder, Popped, Reorder, RtpError, RtpPacket};

/// The longest frame of the any-payload decoder (ICE-TCP's `MAX_TCP_FRAME`).
const ANY_MAX: usize = 2048;

fn frames(pieces: &[&[u8]], any: bool) -> (Vec<Bytes>, Option<RtpError>) {
    let mut decoder = match any {
        true => FrameDecoder::any_payload(ANY_MAX),
        false => FrameDecoder::new(),
    };
    let mut input = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        input.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    assert!(!frame.is_empty() && frame.len() <= rtp::MAX_FRAME_LEN);
                    assert!(!any || frame.len() <= ANY_MAX);
                    out.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn check_packet(bytes: Bytes) -> Option<RtpPacket> {
    let _ = rtp::is_rtcp(&bytes);
    let packet = RtpPacket::decode(bytes).ok()?;
    let mut out = BytesMut::new();
    packet.encode(&mut out);
    assert_eq!(out.len(), packet.encoded_len());
    let again = RtpPacket::decode(out.freeze()).expect("re-encoded packet decodes");
    assert_eq!(again, packet);
    let mut framed = Vec::new();
    if rtp::encode_frame(&again.payload, &mut framed).is_ok() {
        assert_eq!(framed.len(), rtp::FRAME_HEADER_LEN + again.payload.len());
    }
    Some(packet)
}

fuzz_target!(|data: &[u8]| {
    let Some((&window, data)) = data.split_first() else {
        return;
    };
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = frames(&[payload], false);
    assert_eq!(whole, frames(&pieces, false), "cut input frames differently");
    let any = frames(&[payload], true);
    assert_eq!(any, frames(&pieces, true), "cut input frames differently (any payload)");

    // The input as one datagram, too.
    let _ = check_packet(Bytes::copy_from_slice(payload));

    let mut reorder = Reorder::new(usize::from(window));
    let window = reorder.window();
    let mut pushed = 0u64;
    let mut delivered = 0u64;
    let mut drain = |reorder: &mut Reorder| {
        while let Some(p) = reorder.pop() {
            if let Popped::Packet(_) = p {
                delivered += 1;
            }
        }
    };
    for frame in whole.0 {
        if let Some(packet) = check_packet(frame) {
            reorder.push(packet);
            pushed += 1;
            assert!(reorder.held() <= window);
            drain(&mut reorder);
        }
    }
    reorder.flush();
    drain(&mut reorder);
    assert_eq!(reorder.held(), 0);
    let stats = reorder.stats();
    // A lone out-of-window packet stays pending as a reset candidate through `flush`
    // (documented), and is not counted anywhere until the next push decides about it.
    let accounted = delivered + stats.duplicates + stats.late;
    assert!(
        accounted <= pushed && pushed <= accounted + 1,
        "{pushed} packets pushed, {accounted} accounted for: {stats:?}"
    );
});
