//! H.265: HEVCDecoderConfigurationRecord, VPS/SPS parsing and AVCC → Annex B conversion.
//! The shared-buffer parse agrees with the copying one; a parsed record re-encodes to a
//! record that parses back the same; a parsed SPS stays within the picture size bound; a
//! failed conversion writes nothing; the Annex B splitter yields non-empty units that hold
//! no start code.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::{self, annexb, avcc_to_annexb, HevcConfig, NalFormat, SpsInfo};

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
        let mut record = Vec::new();
        if config.encode(&mut record).is_ok() {
            assert_eq!(record.len(), config.encoded_len());
            assert_eq!(HevcConfig::parse(&record).as_ref(), Ok(&config));
        } else {
            assert!(record.is_empty(), "a failed encode wrote bytes");
        }
        if let Ok(info) = config.sps_info() {
            check_sps(&info);
        }
        sets = config.parameter_sets();
    }
    if let Ok(info) = codec::parse_hevc_sps(body) {
        check_sps(&info);
    }
    for nal in annexb::split(body) {
        assert!(!nal.is_empty() && nal.last() != Some(&0));
        assert!(!nal.windows(3).any(|w| w == [0, 0, 1]));
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
