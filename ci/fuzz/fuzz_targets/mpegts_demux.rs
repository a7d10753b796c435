//! MPEG-TS demuxer on arbitrary bytes, fed in random pieces: it never panics, never holds a
//! PES over its limit or more streams than it follows, and a clean flush ends the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::mpegts::{Demuxer, MAX_PES_SIZE, MAX_STREAMS};

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let mut demux = Demuxer::new();
    let mut count = 0u64;
    let mut check = |demux: &mut Demuxer| {
        while let Some(pes) = demux.poll() {
            assert!(pes.data.len() <= MAX_PES_SIZE);
            if let Some(pts) = pes.pts {
                assert!(pts < 1 << 33);
            }
            count += 1;
        }
        assert!(demux.streams().count() <= MAX_STREAMS);
    };
    for piece in pieces {
        let _ = demux.push(piece);
        check(&mut demux);
    }
    let _ = demux.flush();
    check(&mut demux);
    assert_eq!(demux.stats().pes, count);
    let stats = demux.stats();
    assert!(stats.skipped_bytes <= payload.len() as u64);
    assert!(stats.packets <= (payload.len() / 188) as u64);
});
