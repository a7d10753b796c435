//! RTMP's terms: per connection its unparsed input, its outbox, what it may hold before
//! `publish` and its chunk stream headers; per publisher the partly received messages
//! (`rtmp.max_pending_bytes`); one read buffer for all.

use super::{kib, Term, CONNECTION_BYTES};
use crate::config::Config;
use crate::net::rtmp::{READ_BUFFER, SEND_BUFFER};
use crate::server::rtmp::chunk_limits;
use crate::session::rtmp::{COMMAND_CHUNK_LIMITS, MAX_CHUNK_STREAMS, MAX_INPUT_BUFFER, MAX_OUTBOX};

/// Header state of one chunk stream, rounded up.
const CHUNK_STREAM_BYTES: usize = 64;

pub(super) fn term(config: &Config) -> Option<Term> {
    // Before `publish` (a player or an idle peer): COMMAND_CHUNK_LIMITS.
    let pending = COMMAND_CHUNK_LIMITS.max_pending_bytes;
    let connection_bytes = CONNECTION_BYTES
        + MAX_INPUT_BUFFER
        + MAX_OUTBOX
        + pending
        + MAX_CHUNK_STREAMS * CHUNK_STREAM_BYTES;
    // After `publish`: `rtmp.max_message_bytes` and `rtmp.max_pending_bytes`.
    let publisher = chunk_limits(config);
    Some(Term {
        protocol: "RTMP",
        connection_bytes,
        connection_parts: format!(
            "state {}, RTMP input {}, outbox {}, pending before publish {}",
            kib(CONNECTION_BYTES),
            kib(MAX_INPUT_BUFFER),
            kib(MAX_OUTBOX),
            kib(pending),
        ),
        // `net::rtmp::READ_BUFFER`: one per thread, shared by every RTMP connection.
        shared_bytes: READ_BUFFER,
        publisher_pending_bytes: publisher.max_pending_bytes,
        frame_bytes: publisher.max_message_len as usize,
        send_buffer_bytes: SEND_BUFFER,
        lines: Vec::new(),
    })
}
