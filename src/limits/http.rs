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
                 seek buffer {} (its queued writes: disk HLS and DVR, in their lines)",
                kib(STACK_BYTES),
                kib(VOD_PLAN_BYTES),
            ),
            bytes: (STACK_BYTES + DONE_SLOTS * DONE_BYTES + VOD_PLAN_BYTES) as u64,
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

/// One outcome of a file op waiting for the event loop (`FileDone` and a path), rounded up.
pub const DONE_BYTES: usize = 256;
