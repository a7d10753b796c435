//! AAC AudioSpecificConfig: parsing gives a consistent config (sample rate index and rate
//! agree with the table); an ADTS header built from it, when one can be, is 7 bytes that
//! carry the frame length, the sync word and the sampling index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::aac::{AacConfig, ADTS_HEADER_LEN, ADTS_MAX_FRAME_LEN, SAMPLE_RATES};

fuzz_target!(|data: &[u8]| {
    let Some((len_bytes, asc)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Ok(config) = AacConfig::parse(asc) else {
        return;
    };
    if let Some(&rate) = SAMPLE_RATES.get(usize::from(config.sample_rate_index)) {
        assert_eq!(rate, config.sample_rate);
    }
    let _ = config.channel_count();
    let _ = config.profile_name();
    let payload_len = usize::from(u16::from_be_bytes(*len_bytes));
    if let Ok(header) = config.adts_header(payload_len) {
        let frame_len = payload_len + ADTS_HEADER_LEN;
        assert!(frame_len <= ADTS_MAX_FRAME_LEN);
        assert_eq!(header[0], 0xff);
        assert_eq!(header[1] & 0xf0, 0xf0);
        assert_eq!((header[2] >> 2) & 0x0f, config.sample_rate_index);
        let coded = (usize::from(header[3] & 0x03) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        assert_eq!(coded, frame_len);
    }
});
