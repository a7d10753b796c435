//! WHEP offers (`server::rtc::accept`): any bytes as the body of `POST /rtc/v1/whep/` never
//! panic, whether str0m's SDP parser takes them or not, and an accepted offer always has a
//! video m-line with H.264 and an answer with our one host candidate. Seeded with Debian
//! Chromium's offer (tests/data/rtc).
#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tinysrs::server::rtc::{accept, dtls_cert, video_mid};

fuzz_target!(|data: &[u8]| {
    let offer = String::from_utf8_lossy(data);
    let _ = video_mid(&offer);
    let at = SocketAddr::from(([127, 0, 0, 1], 8000));
    let cert = dtls_cert(&[7; 32], &[1; 16]).expect("a valid key");
    if let Ok(a) = accept(&offer, &cert, at, Instant::now()) {
        assert!(a.answer.contains("127.0.0.1 8000 typ host"));
    }
});
