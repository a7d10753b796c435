//! AV1 sequence headers met in a stream (`wire::codec::av1`): any OBU bytes never panic, and
//! the AV1CodecConfigurationRecord made from a sequence header that parses reads back
//! (`Av1Config::parse`) with the same profile, level, tier, bit depth, monochrome flag and
//! frame size. Input: OBUs with obu_has_size_field, as a WHIP publisher's temporal unit
//! comes out of the depacketizer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::codec::av1::{find_sequence_header, SequenceHeader};
use tinysrs::wire::codec::{Av1Config, MAX_PICTURE_DIMENSION};

fuzz_target!(|data: &[u8]| {
    let Some((obu, payload)) = find_sequence_header(data) else {
        return;
    };
    assert!(obu.len() > payload.len() && obu.ends_with(payload));
    let Ok(header) = SequenceHeader::parse(payload) else {
        return;
    };
    assert!(header.chroma_sample_position < 4);
    let mut record = Vec::new();
    header.encode_record(obu, &mut record);
    let config = Av1Config::parse(&record).expect("the record made reads back");
    assert_eq!(config.seq_profile, header.seq_profile);
    assert_eq!(config.seq_level_idx_0, header.seq_level_idx_0);
    assert_eq!(config.seq_tier_0, header.seq_tier_0);
    assert_eq!(config.high_bitdepth, header.high_bitdepth);
    assert_eq!(config.twelve_bit, header.twelve_bit);
    assert_eq!(config.monochrome, header.monochrome);
    assert_eq!(
        (config.max_width, config.max_height),
        (header.max_width, header.max_height)
    );
    assert!(header.max_width <= MAX_PICTURE_DIMENSION && header.max_height <= MAX_PICTURE_DIMENSION);
});
