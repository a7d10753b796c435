//! RTSP camera client session (sans-IO), after its OPTIONS was answered and its DESCRIBE
//! sent: the input, fed in random pieces, is everything the camera sends from then on
//! (DESCRIBE reply, challenges, redirects, SETUP and PLAY replies, interleaved RTP and RTCP,
//! requests of its own). The driver's part is played per a policy byte: credentials in the
//! URL, reconnecting after a redirect, timeouts, TEARDOWN. Whatever comes in, what the
//! session sends must decode as RTSP messages or interleaved frames (receiver reports), and
//! its frames must be well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::session::rtsp::{ClientConfig, ClientSession, Event};
use tinysrs::wire::rtsp::url::Url;
use tinysrs::wire::rtsp::{decode, Item};

const OPTIONS_REPLY: &[u8] = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\
Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n\r\n";

/// Everything the session sent decodes as whole RTSP messages, or whole interleaved frames
/// (its RTCP receiver reports over TCP).
fn check_sent(session: &mut ClientSession) {
    while let Some(bytes) = session.poll_transmit() {
        match decode(&bytes) {
            Ok(Some((Item::Message(_) | Item::Interleaved { .. }, used))) => {
                assert_eq!(used, bytes.len())
            }
            other => panic!(
                "the session sent something that is not one message: {other:?}: {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ),
        }
    }
}

fn drain(session: &mut ClientSession, now: u64, reconnect: bool) {
    while let Some(event) = session.poll_event() {
        if let Event::Redirect { .. } = event {
            if reconnect {
                session.handle_connected(now);
            }
        }
    }
    while let Some(frame) = session.poll_frame() {
        assert!(frame.payload_offset <= frame.data.len());
    }
    check_sent(session);
}

fuzz_target!(|data: &[u8]| {
    let Some((&policy, data)) = data.split_first() else {
        return;
    };
    let (_, pieces) = tinysrs_fuzz::split(data);
    let url = if policy & 1 != 0 {
        "rtsp://admin:12345@192.168.1.64:554/Streaming/Channels/101"
    } else {
        "rtsp://192.168.1.64/live"
    };
    let config = ClientConfig {
        url: Url::parse(url).unwrap(),
        cnonce: "0a4f113b".to_owned(),
        max_access_unit: 64 * 1024,
        request_timeout_ms: 10_000,
        media_timeout_ms: 20_000,
    };
    let mut now = 1_000u64;
    let mut session = ClientSession::new(config, now);
    session.handle_connected(now);
    session
        .handle_bytes(now, OPTIONS_REPLY)
        .expect("an OPTIONS reply is accepted");
    drain(&mut session, now, true);
    for (i, piece) in pieces.into_iter().enumerate() {
        now += u64::from(piece[0] & 0x0f) * 100;
        if session.handle_bytes(now, piece).is_err() {
            return;
        }
        drain(&mut session, now, policy & 2 != 0);
        if policy & 4 != 0 && i % 4 == 3 {
            if let Some(t) = session.poll_timeout() {
                now = now.max(t);
            }
            if session.handle_timeout(now).is_err() {
                return;
            }
            drain(&mut session, now, policy & 2 != 0);
        }
        if policy & 8 != 0 && i == 16 {
            session.teardown(now);
            drain(&mut session, now, false);
        }
    }
});
