//! Synthetic FLV video tag bodies for tests that count or compare frames exactly.

/// A synthetic AVC sequence header: FLV header 0x17 0x00 + CTS 0, then a made-up
/// AVCDecoderConfigurationRecord that names its publisher in the SPS bytes.
pub fn avc_header(tag: u8) -> Vec<u8> {
    let sps = [0x67, 0x64, 0x00, 0x1f, tag, tag];
    let pps = [0x68, 0xee, 0x3c, 0x80];
    let mut body = vec![0x17, 0x00, 0, 0, 0, 1, 0x64, 0x00, 0x1f, 0xff, 0xe1];
    body.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    body.extend_from_slice(&sps);
    body.push(1);
    body.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    body.extend_from_slice(&pps);
    body
}

/// A synthetic AVC frame of `len` bytes in all: 0x17/0x27 0x01 + CTS 0, then one
/// length-prefixed NAL unit whose bytes spell `tag` and `n`, so that every frame differs.
pub fn avc_frame(key: bool, tag: u8, n: u32, len: usize) -> Vec<u8> {
    assert!(len >= 10);
    let mut body = vec![if key { 0x17 } else { 0x27 }, 0x01, 0, 0, 0];
    body.extend_from_slice(&((len - 9) as u32).to_be_bytes());
    body.push(if key { 0x65 } else { 0x41 });
    let seed = u32::from(tag) << 24 ^ n;
    body.extend((0..len - 10).map(|i| (seed.wrapping_mul(2_654_435_761) >> (i % 24)) as u8));
    body
}
