//! A coworker's answer to `/api/v1/clusters` (SRS 3.0's origin cluster,
//! `server::origin_cluster::CoworkerQuery::answer`): any bytes place the stream or give an
//! error, never a panic; a placed stream has an ip and a port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::server::origin_cluster::CoworkerQuery;

fuzz_target!(|data: &[u8]| {
    if let Ok(placed) = CoworkerQuery::answer(200, data) {
        assert!(!placed.ip.is_empty() && placed.port > 0);
    }
});
