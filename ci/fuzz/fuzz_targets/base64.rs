//! Base64 (the HTTP API's basic credentials): any input decodes or is refused without a
//! panic; what decodes is at most 3/4 of the input and only from inputs within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::base64::{decode, MAX_ENCODED};

fuzz_target!(|data: &[u8]| {
    if let Some(plain) = decode(data) {
        assert!(data.len() <= MAX_ENCODED);
        assert!(plain.len() <= data.len() / 4 * 3 + 2);
    }
});
