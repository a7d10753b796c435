//! H.265: HEVCDecoderConfigurationRecord, VPS/SPS parsing and AVCC → Annex B conversion.
//! The shared-buffer parse agrees with the copying one; a parsed SPS stays within the
//! picture size bound; a failed conversion writes nothing.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::{self, avcc_to_annexb, HevcConfig, NalFormat, SpsInfo};

fn check_sps(info: &SpsInfo) {
    assert!(info.width <= codec::MAX_PICTURE_DIMENSION);
    assert!(info.height <= codec::MAX_PICTURE_DIMENSION);
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let nal_length_size = control & 0x07;
    let keyframe = control & 0x08 != 0;
    let mut sets = Vec::new();
    if let Ok(config) = HevcConfig::parse(body) {
        let shared = HevcConfig::parse_shared(&Bytes::copy_from_slice(body))
            .expect("parse_shared agrees with parse");
        assert_eq!(shared, config);
        assert!((1..=4).contains(&config.nal_length_size));
        assert!(!config.vps.is_empty() && !config.sps.is_empty() && !config.pps.is_empty());
        if let Ok(info) = config.sps_info() {
            check_sps(&info);
        }
        sets = config.parameter_sets();
    }
    if let Ok(info) = codec::parse_hevc_sps(body) {
        check_sps(&info);
    }
    let mut out = Vec::new();
    if avcc_to_annexb(
        NalFormat::Hevc,
        nal_length_size,
        &sets,
        keyframe,
        body,
        &mut out,
    )
    .is_err()
    {
        assert!(out.is_empty(), "a failed conversion wrote bytes");
    }
});
