//! The answer of a `forward.backend` (SRS 5.0 dynamic forward, `server::forward::backend_urls`):
//! any bytes give destinations or an error, never a panic; at most MAX_DESTINATIONS, each an
//! rtmp:// URL with its app and stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::config::MAX_DESTINATIONS;
use tinysrs::server::forward::backend_urls;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = backend_urls(data) {
        assert!(list.len() <= MAX_DESTINATIONS);
        assert!(list.iter().all(|d| d.app_stream.is_some() && d.port > 0));
    }
});
