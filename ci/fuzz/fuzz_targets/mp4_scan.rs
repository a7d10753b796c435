//! MP4 repair scanner on arbitrary bytes: it never panics; fed the way a recorder reads a
//! file (reads of the split's piece lengths, at least SCAN_READ_LEN, at the scanner's
//! position) it answers as it does on the whole file; the end it reports is inside the file,
//! and the part before it scans clean to the same end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::mp4::{scan, Scanner, Stop, SCAN_READ_LEN};

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = scan(payload);

    let mut scanner = Scanner::new(payload.len() as u64);
    let mut reads = pieces.iter().map(|p| p.len()).cycle();
    let incremental = loop {
        let at = usize::try_from(scanner.position()).unwrap_or(usize::MAX);
        let read = reads.next().unwrap_or(1).max(SCAN_READ_LEN);
        let end = at.saturating_add(read).min(payload.len());
        match scanner.feed(payload.get(at..end).unwrap_or_default()) {
            Ok(Some(found)) => break Ok(found),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
    };
    assert_eq!(whole, incremental, "reads answer differently");

    if let Ok(found) = whole {
        assert!(found.end <= payload.len() as u64);
        let kept = &payload[..found.end as usize];
        let again = scan(kept).expect("the kept part is a fragmented MP4 file");
        assert_eq!(
            (
                again.end,
                again.fragments,
                again.last_sequence_number,
                again.stop
            ),
            (
                found.end,
                found.fragments,
                found.last_sequence_number,
                Stop::EndOfFile
            )
        );
    }
});
