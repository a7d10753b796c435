//! HTTP-FLV client session (sans-IO, an edge's pull with `cluster.protocol = "flv"`): the
//! input, fed in random pieces after the `GET`, is the origin's response (head, then a
//! chunked, sized or close-delimited FLV body). Events are polled after each piece, as the
//! driver does. Nothing may panic; errors end the session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::session::flv_client::{FlvClient, FlvClientConfig};

fuzz_target!(|data: &[u8]| {
    let (_, pieces) = tinysrs_fuzz::split(data);
    let config = FlvClientConfig {
        host: "127.0.0.1:8080".into(),
        path: "/live/cam.flv".into(),
        max_tag_len: 64 * 1024,
        setup_timeout_ms: 10_000,
    };
    let mut now = 1_000u64;
    let mut client = FlvClient::new(config, now).expect("a valid request");
    assert!(client.poll_transmit().is_some(), "the GET first");
    for piece in pieces {
        now += u64::from(piece[0] & 0x0f) * 100;
        if client.handle_bytes(now, piece).is_err() {
            return;
        }
        loop {
            match client.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if client.handle_timeout(now).is_err() {
            return;
        }
    }
});
