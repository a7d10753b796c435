//! HTTP's terms: per connection a request head, a body and one static-file chunk; the disk
//! thread that reads its files (and writes disk HLS, counted in `limits/hls.rs`).

use super::{kib, BudgetLine, Term, CONNECTION_BYTES};
use crate::config::Config;
use crate::net::disk::{DONE_SLOTS, STACK_BYTES};
use crate::net::http::FILE_CHUNK;
use crate::server::http::live::MAX_CLIENT_URL;
use crate::wire::http::MAX_HEAD_LEN;

pub(super) fn term(config: &Config) -> Option<Term> {
    // Request head (`wire::http::MAX_HEAD_LEN`) + body (`http_server.max_body_bytes`, read and
    // dropped today, counted as if held) + one static-file chunk (`net::http::FILE_CHUNK`) +
    // the tcUrl and pageUrl (Referer) a live player's client record keeps for the API
    // (`server::http::live::MAX_CLIENT_URL` each).
    let connection_bytes = CONNECTION_BYTES
        + MAX_HEAD_LEN
        + config.http.max_body_bytes
        + FILE_CHUNK
        + 2 * MAX_CLIENT_URL;
    let playback = playback_bytes(config);
    Some(Term {
        protocol: "HTTP",
        connection_bytes,
        connection_parts: format!("HTTP {}", kib(connection_bytes)),
        shared_bytes: 0,
        publisher_pending_bytes: 0,
        frame_bytes: 0,
        send_buffer_bytes: 0,
        lines: vec![BudgetLine {
            what: "disk",
            formula: format!(
                "disk thread: stack {} + {DONE_SLOTS} outcomes x {DONE_BYTES} B + a recording's \
                 seek buffer {}{} (its queued writes: disk HLS and DVR, in their lines)",
                kib(STACK_BYTES),
                kib(VOD_PLAN_BYTES),
                if playback > 0 {
                    format!(" + time-based playbacks {}", kib(playback))
                } else {
                    String::new()
                },
            ),
            bytes: (STACK_BYTES + DONE_SLOTS * DONE_BYTES + VOD_PLAN_BYTES + playback) as u64,
        }],
    })
}

/// The buffer the disk thread reads an FLV recording's head and seek windows into
/// (`server::dvr::vod`), while it plans a `?start=` request.
#[cfg(feature = "dvr")]
const VOD_PLAN_BYTES: usize = {
    use crate::server::dvr::vod::{HEAD_WINDOW, SEEK_WINDOW};
    if HEAD_WINDOW > SEEK_WINDOW {
        HEAD_WINDOW
    } else {
        SEEK_WINDOW
    }
};
#[cfg(not(feature = "dvr"))]
const VOD_PLAN_BYTES: usize = 0;

/// The rewritten `moof`s of the time-based playbacks planned or sent at once
/// (`server::dvr::playback`), when a vhost records (only those play back).
#[cfg(all(feature = "api", feature = "dvr"))]
fn playback_bytes(config: &Config) -> usize {
    use crate::server::dvr::playback::{MAX_PLAN_BYTES, MAX_PLAYBACKS};
    let records = config.vhosts().any(|v| v.enabled && v.dvr.enabled);
    if records {
        MAX_PLAYBACKS * MAX_PLAN_BYTES
    } else {
        0
    }
}
#[cfg(not(all(feature = "api", feature = "dvr")))]
fn playback_bytes(_: &Config) -> usize {
    0
}

/// One outcome of a file op waiting for the event loop (`FileDone` and a path), rounded up.
pub const DONE_BYTES: usize = 256;

#[cfg(all(test, feature = "api", feature = "dvr"))]
mod tests {
    use super::super::Limits;
    use crate::config::Config;
    use crate::server::dvr::playback::{MAX_PLAN_BYTES, MAX_PLAYBACKS};

    fn disk_line(toml: &str) -> u64 {
        let config = Config::from_toml_str(toml, "test").unwrap();
        let budget = Limits::of(&config).budget();
        budget
            .lines
            .iter()
            .find(|l| l.what == "disk")
            .unwrap()
            .bytes
    }

    #[test]
    fn playbacks_count_when_a_vhost_records() {
        let off = disk_line("");
        let on = disk_line("[vhost.__defaultVhost__.dvr]\nenabled = true\n");
        assert_eq!(on - off, (MAX_PLAYBACKS * MAX_PLAN_BYTES) as u64);
    }
}
