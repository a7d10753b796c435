//! AMF0: decode → encode → decode round trip. Whatever decodes re-encodes to exactly
//! `encoded_len` bytes that decode to values encoding to the same bytes again (compared as
//! bytes: a NaN number is not equal to itself). Single-value decoding consumes no more than
//! the input and agrees with `decode_all` on the first value.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::amf0;

fn encode(values: &[amf0::Value]) -> BytesMut {
    let mut out = BytesMut::new();
    amf0::encode_all(values, &mut out);
    let len: usize = values.iter().map(amf0::Value::encoded_len).sum();
    assert_eq!(out.len(), len, "encoded_len disagrees with encode");
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = amf0::decode(data) {
        assert!(used > 0 && used <= data.len());
        let mut alone = BytesMut::new();
        value.encode(&mut alone);
        let (again, again_used) = amf0::decode(&alone).expect("re-encoded value decodes");
        assert_eq!(again_used, alone.len());
        let mut twice = BytesMut::new();
        again.encode(&mut twice);
        assert_eq!(alone, twice);
    }
    let Ok(values) = amf0::decode_all(data) else {
        return;
    };
    let first = encode(&values);
    let again = amf0::decode_all(&first).expect("re-encoded values decode");
    assert_eq!(again.len(), values.len());
    let second = encode(&again);
    assert_eq!(first, second, "decode → encode is not a fixpoint");
});
