//! HTTP/1.1 responses as the hook client reads them (`wire::http::client`): any bytes, fed in
//! pieces of random sizes then closed, give the same outcome as one piece: a complete
//! response (status, body) or an error; never a body over the reader's limit, never a panic.
//! A complete response stays complete whatever follows it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::http::client::{decode_response_head, ResponseReader};
use tinysrs::wire::http::MAX_HEAD_LEN;

/// Small, so that the fuzzer reaches the limit.
const MAX_BODY: usize = 512;

fn read(pieces: &[&[u8]]) -> Result<(u16, Vec<u8>), String> {
    let mut reader = ResponseReader::new(MAX_BODY);
    for piece in pieces {
        match reader.handle_bytes(piece) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return Err(e.to_string()),
        }
        assert!(reader.body().len() <= MAX_BODY);
    }
    if !reader.is_done() {
        reader.handle_eof().map_err(|e| e.to_string())?;
    }
    assert!(reader.is_done());
    assert!(reader.body().len() <= MAX_BODY);
    Ok((reader.status(), reader.body().to_vec()))
}

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = read(&[payload]);
    let cut = read(&pieces);
    assert_eq!(whole, cut, "pieces disagree with one read");
    if let Ok((status, _)) = &whole {
        // 1xx heads are skipped: a final status is 200..=599.
        assert!((200..600).contains(status), "{status}");
    }
    match decode_response_head(payload) {
        Ok(Some((_, used))) => assert!(used <= payload.len().min(MAX_HEAD_LEN)),
        Ok(None) => assert!(payload.len() < MAX_HEAD_LEN),
        Err(_) => {}
    }
});
