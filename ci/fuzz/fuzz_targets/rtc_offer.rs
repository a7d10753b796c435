//! WHEP offers (`server::rtc::accept`): any bytes as the body of `POST /rtc/v1/whep/` never
//! panic, whether str0m's SDP parser takes them or not, for a stream of each video codec
//! (H.264, H.265, AV1), and an accepted offer always has a video m-line with that codec and an
//! answer with our host candidates (UDP, and TCP passive on the same port number). Seeded
//! with Debian Chromium's offer (tests/data/rtc).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tinysrs::server::rtc::{accept, candidates, dtls_cert, video_mid, RtcVideo};

fuzz_target!(|data: &[u8]| {
    let offer = String::from_utf8_lossy(data);
    let _ = video_mid(&offer);
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ours = candidates(ip, Some(8000), Some(8000)).expect("host candidates");
    let cert = dtls_cert(&[7; 32], &[1; 16]).expect("a valid key");
    for video in [RtcVideo::H264, RtcVideo::H265, RtcVideo::Av1] {
        if let Ok(a) = accept(&offer, video, &cert, &ours, Instant::now()) {
            assert!(a.answer.contains("127.0.0.1 8000 typ host"));
            assert!(a.answer.contains("tcptype passive"));
        }
    }
});
