//! FLV repair scan (DVR): any bytes, read in windows of random sizes at the offsets the scan
//! asks for, give the same complete length as one pass over the whole input; that length is
//! within the input, rescanning the prefix it names gives it back, and the stream reader
//! reads that prefix to its end without an error.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::flv::scan::{self, TagScan};
use tinysrs::wire::flv::{FlvReader, MAX_BODY_LEN};

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = scan::scan(payload);
    let len = whole.complete_len();
    assert!(len <= payload.len() as u64);

    // Windows as long as the pieces, each read at `want()`.
    let mut windowed = TagScan::default();
    let mut sizes = pieces.iter().map(|p| p.len()).cycle();
    while let Some(at) = windowed.want() {
        let at = at as usize;
        let Some(size) = sizes.next() else { break };
        if at >= payload.len() {
            break;
        }
        let end = at.saturating_add(size.max(13)).min(payload.len());
        if !matches!(windowed.feed(&payload[at..end]), Ok(true)) {
            break;
        }
    }
    assert_eq!(windowed.complete_len(), len, "windowed reads disagree");

    let prefix = &payload[..len as usize];
    assert_eq!(
        scan::complete_len(prefix),
        len,
        "the prefix rescans differently"
    );
    if len > 0 {
        let mut reader = FlvReader::new(MAX_BODY_LEN);
        let mut buf = BytesMut::from(prefix);
        while let Some(_tag) = reader.decode(&mut buf).expect("the prefix reads as FLV") {}
        assert!(buf.is_empty(), "the prefix ends on a tag");
        assert_eq!(reader.offset(), len);
    }
});
