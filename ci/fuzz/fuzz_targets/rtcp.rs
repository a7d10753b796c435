//! RTCP compound packets: the walk never panics and stops at the first error; what decodes
//! re-encodes to exactly `encoded_len` bytes, which decode to packets that encode to the same
//! bytes; the wallclock mapping of any sender report and timestamp does not overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtcp::{self, Packet, Wallclock};

fuzz_target!(|data: &[u8]| {
    let mut decoded = Vec::new();
    let mut errors = 0;
    for packet in rtcp::packets(data) {
        match packet {
            Ok(p) => decoded.push(p),
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1, "the walk goes on after an error");
    for p in &decoded {
        let mut out = Vec::new();
        if p.encode(&mut out).is_ok() {
            assert_eq!(out.len(), p.encoded_len());
            let again: Vec<Packet> = rtcp::packets(&out)
                .map(|p| p.expect("ours decodes"))
                .collect();
            assert_eq!(again.len(), 1);
            let mut twice = Vec::new();
            again[0].encode(&mut twice).expect("encodes again");
            assert_eq!(twice, out);
        }
        if let Packet::SenderReport(sr) = p {
            for rate in [8_000, 48_000, 90_000] {
                if let Some(clock) = Wallclock::from_report(sr, rate) {
                    let _ = clock.unix_micros(sr.rtp_timestamp.wrapping_add(data.len() as u32));
                    let _ = clock.unix_micros(!sr.rtp_timestamp);
                }
            }
            let _ = sr.ntp.to_unix_micros();
        }
    }
});
