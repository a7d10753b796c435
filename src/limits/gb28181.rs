//! GB28181's terms: the camera gateway at its caps, on its own line (none when
//! `gb28181.enabled` is off); its SIP over TCP connections are among `max_connections`.

use super::{kib, BudgetLine, Term, CONNECTION_BYTES};
use crate::config::Config;
use crate::net::gb28181::{MAX_DATAGRAM, MEDIA_TCP_BYTES, READ_BUFFER};
use crate::server::gb28181::media::MediaLimits;
use crate::session::gb28181::{MAX_CHANNELS, MAX_DEVICES, MAX_REFUSED_LEN, MAX_WATCHED};
use crate::wire::sip;

/// Every media session assembling a full PES and access unit with a full reorder window, on
/// its own media TCP connection or UDP port with a full read buffer, every device with every
/// channel, and the most streams with viewers the agent tracks (on demand). A SIP over TCP connection (a full message in its buffer) is admitted under
/// `max_connections` like any TCP connection, so the connections line counts it.
pub(super) fn term(config: &Config) -> Option<Term> {
    if !config.gb28181.enabled {
        return None;
    }
    let limits = MediaLimits::of(config);
    let sessions = limits.max_sessions;
    let read = MEDIA_TCP_BYTES.max(MAX_DATAGRAM);
    let session = limits.max_pes_bytes + limits.max_frame_bytes + limits.reorder_bytes() + read;
    let sip_tcp = CONNECTION_BYTES + READ_BUFFER + sip::MAX_MESSAGE_LEN;
    // A channel: its names and call (256), and the reason its last call was refused.
    let devices = MAX_DEVICES * MAX_CHANNELS * (256 + MAX_REFUSED_LEN);
    // On-demand invites: the streams with viewers the agent tracks, a name and a state each.
    let watched = MAX_WATCHED * 128;
    // In u64: max_media_sessions x (max_pes_bytes + max_frame_bytes ...) passes 4 GiB on a
    // 32-bit target.
    let bytes = (sessions as u64)
        .saturating_mul(session as u64)
        .saturating_add((devices + watched + MAX_DATAGRAM) as u64);
    Some(Term {
        protocol: "gb28181",
        connection_bytes: sip_tcp,
        connection_parts: format!("GB28181 SIP over TCP {}", kib(sip_tcp)),
        shared_bytes: 0,
        publisher_pending_bytes: 0,
        // An access unit becomes one frame.
        frame_bytes: limits.max_frame_bytes,
        send_buffer_bytes: 0,
        lines: vec![BudgetLine {
            what: "gb28181",
            formula: format!(
                "gb28181.max_media_sessions {sessions} x {} (max_pes_bytes {} + \
                 max_frame_bytes {} + reorder window {} packets {} + read buffer {}) + \
                 {MAX_DEVICES} devices x {MAX_CHANNELS} channels {} + {MAX_WATCHED} watched \
                 streams {} + one datagram",
                kib(session),
                kib(limits.max_pes_bytes),
                kib(limits.max_frame_bytes),
                limits.reorder_window,
                kib(limits.reorder_bytes()),
                kib(read),
                kib(devices),
                kib(watched),
            ),
            bytes,
        }],
    })
}
