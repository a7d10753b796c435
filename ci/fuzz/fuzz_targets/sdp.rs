//! SDP (GB28181 INVITE bodies): whatever parses encodes to text that parses to the same
//! description (documented on `Sdp::encode`); accessors do not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::sdp::{Sdp, MAX_MEDIA};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sdp) = Sdp::parse(text) else {
        return;
    };
    assert!(sdp.media.len() <= MAX_MEDIA);
    let _ = sdp.is_tcp();
    let _ = sdp.ssrc_value();
    if let Some(video) = sdp.video() {
        let _ = sdp.connection_for(video);
    }
    let encoded = sdp.encode();
    let again = Sdp::parse(&encoded).expect("encoded SDP parses");
    assert_eq!(again, sdp, "parse(encode(sdp)) != sdp for {encoded:?}");
});
