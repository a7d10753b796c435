//! The RTSP server's player or publisher session (sans-IO): the input, fed in random pieces,
//! is what a player or a publisher sends (requests, an ANNOUNCE's SDP, interleaved RTP and
//! RTCP, garbage). The glue's part is played per a policy byte: DESCRIBE and ANNOUNCE
//! answered or refused, UDP on or off and its SETUP answered or refused, PLAY answered,
//! publishing on or off, authentication on or off, timeouts, media headers asked for, each
//! piece also handed over as a UDP datagram. Whatever comes in, what the session sends must
//! decode as whole RTSP messages, its media headers must be interleaved frames of the
//! packet's length, and a publisher's frames stay within the access unit cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::session::rtsp_server::{Event, ServerSession, TrackDesc};
use tinysrs::wire::rtsp::{decode, Item};

/// The publisher's access unit cap: small, so that the fuzzer reaches it.
const MAX_ACCESS_UNIT: usize = 4096;

/// An RTP packet as the glue shares it (sequence number 0, SSRC 0).
const PACKET: &[u8] = &[0x80, 0x60, 0, 0, 0, 0, 0x0b, 0xb8, 0, 0, 0, 0, 0x65, 0x88];

fn drain(session: &mut ServerSession, now: u64, policy: u8) {
    while let Some(event) = session.poll_event() {
        match event {
            Event::Describe { url, .. } if policy & 1 == 0 => {
                let tracks = (0..2)
                    .map(|i| TrackDesc {
                        control: format!("trackID={i}"),
                    })
                    .collect();
                session.describe_ok(now, &url, "v=0\r\n".to_owned(), tracks);
            }
            Event::Describe { .. } => session.refuse(now, 404),
            Event::Announce { .. } if policy & 1 == 0 => session.announce_ok(now),
            Event::Announce { .. } => session.refuse(now, 403),
            Event::Play => session.play_ok(now, &[90_000, 44_100]),
            Event::SetupUdp { track, .. } if policy & 8 == 0 => {
                session.setup_udp_ok(now, track, (6000, 6001))
            }
            Event::SetupUdp { .. } => session.refuse(now, 500),
            Event::Teardown => {}
        }
    }
    while let Some(bytes) = session.poll_transmit() {
        match decode(&bytes) {
            Ok(Some((Item::Message(m), used))) => {
                assert_eq!(used, bytes.len());
                assert!(m.status().is_some(), "a response");
            }
            other => panic!("the session sent something that is not one response: {other:?}"),
        }
    }
    while let Some(frame) = session.poll_frame() {
        assert!(frame.data.len() <= MAX_ACCESS_UNIT + 64, "{}", frame.data.len());
    }
    if session.is_playing() && policy & 2 != 0 {
        for track in 0..3 {
            if let Some((_, h)) = session.packet_header(track, PACKET) {
                assert_eq!(h[0], b'$');
                assert_eq!(usize::from(u16::from_be_bytes([h[2], h[3]])), PACKET.len());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&policy, data)) = data.split_first() else {
        return;
    };
    let (_, pieces) = tinysrs_fuzz::split(data);
    let mut now = 1_000u64;
    let mut session = ServerSession::new(now, 0x1234, 0x5678).with_udp(policy & 16 != 0);
    if policy & 32 != 0 {
        session = session.with_record(MAX_ACCESS_UNIT);
    }
    if policy & 128 != 0 {
        session = session.with_auth("cam", "s3cret", "5e0ad1c0".to_owned());
    }
    for (i, piece) in pieces.into_iter().enumerate() {
        now += u64::from(piece[0] & 0x0f) * 1000;
        if session.handle_bytes(now, piece).is_err() {
            return;
        }
        drain(&mut session, now, policy);
        if policy & 64 != 0 && session.is_recording() {
            let piece = bytes::Bytes::copy_from_slice(piece);
            session.handle_datagram(now, i % 3, piece[0] & 1 != 0, piece);
            drain(&mut session, now, policy);
        }
        if policy & 4 != 0 && i % 4 == 3 {
            if let Some(t) = session.poll_timeout() {
                now = now.max(t);
            }
            session.handle_timeout(now);
            drain(&mut session, now, policy);
        }
        if session.is_closed() {
            return;
        }
    }
});
