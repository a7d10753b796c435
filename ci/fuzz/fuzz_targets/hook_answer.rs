//! SRS's allow rule on a hook server's answer (`server::hooks::allows`): any status and
//! body, never a panic; it allows only a 200/201 whose body, trimmed, is `0` or a JSON
//! object whose `code` is the integer 0. The first two bytes are the status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::server::hooks::allows;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = u16::from_be_bytes(*status) % 1000;
    let verdict = allows(status, body);
    if verdict.is_ok() {
        assert!(status == 200 || status == 201, "{status}");
        let text = body.trim_ascii();
        assert!(text == b"0" || text.starts_with(b"{"), "{body:?}");
    }
    // The status decides alone when it is not 200/201.
    if status != 200 && status != 201 {
        assert!(verdict.is_err());
    }
});
