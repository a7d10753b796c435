//! Trickle ICE fragments (`PATCH /rtc/v1/session/{id}`, `wire::sdp::trickle`): any bytes as
//! the body never panic, and a fragment taken holds at most MAX_CANDIDATES candidate lines,
//! each a line of the body (the candidates' own grammar is str0m's ICE agent's). Seeded with a
//! fragment as Chromium's candidates make one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::sdp::trickle::{credentials, parse, MAX_CANDIDATES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = credentials(&text);
    if let Ok(f) = parse(&text) {
        assert!(f.candidates.len() <= MAX_CANDIDATES);
        for line in &f.candidates {
            assert!(line.starts_with("candidate:") && text.contains(line));
        }
    }
});
