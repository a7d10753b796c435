//! WHIP offers (`server::rtc::publish::accept`): any bytes as the body of
//! `POST /rtc/v1/whip/` never panic, whether our reading of the m-lines' codec lists or
//! str0m's SDP parser takes them or not, and an accepted offer is answered with a video
//! m-line. (No check of the candidates: str0m answers an offer whose first m-line is of an
//! unknown kind without any, a peer's own fault.) Seeded with Debian Chromium's WHIP offer
//! (tests/data/rtc).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tinysrs::server::rtc::{candidates, dtls_cert, publish};

fuzz_target!(|data: &[u8]| {
    let offer = String::from_utf8_lossy(data);
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ours = candidates(ip, Some(8000), Some(8000)).expect("host candidates");
    let cert = dtls_cert(&[7; 32], &[1; 16]).expect("a valid key");
    if let Ok(a) = publish::accept(&offer, &cert, &ours, Instant::now()) {
        assert!(a.answer.contains("m=video"));
    }
});
