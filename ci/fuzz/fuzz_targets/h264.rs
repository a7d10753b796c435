//! H.264: AVCDecoderConfigurationRecord and SPS parsing, and AVCC → Annex B conversion.
//! A record that parses re-encodes (within the encoder's documented limits) to one that
//! parses to the same config, in exactly `encoded_len` bytes; a parsed SPS stays within
//! the picture size bound; a failed conversion writes nothing.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::{self, avcc_to_annexb, AvcConfig, NalFormat, NalUnits, SpsInfo};

fn check_sps(info: &SpsInfo) {
    assert!(info.width <= codec::MAX_PICTURE_DIMENSION);
    assert!(info.height <= codec::MAX_PICTURE_DIMENSION);
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    if let Ok(config) = AvcConfig::parse(body) {
        let shared = AvcConfig::parse_shared(&Bytes::copy_from_slice(body))
            .expect("parse_shared agrees with parse");
        assert_eq!(shared, config);
        let mut out = BytesMut::new();
        if config.encode(&mut out).is_ok() {
            assert_eq!(out.len(), config.encoded_len());
            let again = AvcConfig::parse(&out).expect("re-encoded record parses");
            assert_eq!(again, config);
        }
        if let Ok(info) = config.sps_info() {
            check_sps(&info);
        }
        convert(control, &config.parameter_sets(), body);
    }
    if let Ok(info) = codec::parse_sps(body) {
        check_sps(&info);
    }
    convert(control, &[], body);
});

/// Converts `avcc` with the NAL length size and keyframe flag from `control`.
fn convert(control: u8, sets: &[Bytes], avcc: &[u8]) {
    let nal_length_size = control & 0x07;
    let keyframe = control & 0x08 != 0;
    if let Ok(units) = NalUnits::new(avcc, nal_length_size) {
        let total: usize = units.map_while(Result::ok).map(|n| n.len()).sum();
        assert!(total <= avcc.len());
    }
    let mut out = Vec::new();
    if avcc_to_annexb(
        NalFormat::Avc,
        nal_length_size,
        sets,
        keyframe,
        avcc,
        &mut out,
    )
    .is_err()
    {
        assert!(out.is_empty(), "a failed conversion wrote bytes");
    }
}
