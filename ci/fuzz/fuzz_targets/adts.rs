//! ADTS (ISO/IEC 14496-3 §1.A.2): a stream of frames decodes frame by frame without a panic;
//! every decoded frame lies inside the input, its raw bytes follow its header, and, when our
//! own header writer can describe it, the header it writes decodes to the same config and
//! frame length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::aac::{decode_adts_frame, AdtsHeader, ADTS_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = decode_adts_frame(rest) {
        assert!(used <= rest.len() && used >= ADTS_HEADER_LEN);
        assert_eq!(used, frame.header.frame_len);
        assert!(frame.raw.len() <= used - ADTS_HEADER_LEN);
        let config = frame.header.config();
        assert_eq!(config.sample_rate, frame.header.sample_rate());
        if let Ok(written) = config.adts_header(frame.raw.len()) {
            let (again, len) = AdtsHeader::decode(&written).unwrap().unwrap();
            assert_eq!(len, ADTS_HEADER_LEN);
            assert_eq!(again.config(), config);
            assert_eq!(again.frame_len, ADTS_HEADER_LEN + frame.raw.len());
        }
        rest = &rest[used..];
    }
});
