//! GB28181's terms: the camera gateway at its caps, on its own line (none when
//! `gb28181.enabled` is off).

use super::{BudgetLine, Term};
use crate::config::Config;
use crate::net::gb28181::{MAX_DATAGRAM, MAX_SIP_TCP, MEDIA_TCP_BYTES, READ_BUFFER};
use crate::server::gb28181::assemble::MAX_ACCESS_UNIT;
use crate::session::gb28181::{MAX_CHANNELS, MAX_DEVICES};
use crate::wire::{mpegps::MAX_PES_LEN, rtp, sip};

/// Every media session assembling a full PES and access unit with a full reorder window, on
/// its own media TCP connection or UDP port with a full read buffer, every SIP TCP connection
/// with a full message, and every device with every channel.
pub(super) fn term(config: &Config) -> Option<Term> {
    if !config.gb28181.enabled {
        return None;
    }
    let sessions = config.gb28181.max_media_sessions;
    let session = MAX_PES_LEN
        + MAX_ACCESS_UNIT
        + rtp::DEFAULT_WINDOW * rtp::MAX_FRAME_LEN
        + MEDIA_TCP_BYTES.max(MAX_DATAGRAM);
    let sip_tcp = READ_BUFFER + sip::MAX_MESSAGE_LEN;
    let devices = MAX_DEVICES * MAX_CHANNELS * 256;
    let bytes = sessions * session + MAX_SIP_TCP * sip_tcp + devices + MAX_DATAGRAM;
    Some(Term {
        protocol: "gb28181",
        // Its connections are counted in its own line.
        connection_bytes: 0,
        connection_parts: String::new(),
        shared_bytes: 0,
        publisher_pending_bytes: 0,
        // An access unit becomes one frame.
        frame_bytes: MAX_ACCESS_UNIT,
        send_buffer_bytes: 0,
        lines: vec![BudgetLine {
            what: "gb28181",
            formula: format!(
                "gb28181.max_media_sessions {sessions} x (PES 2 MiB + access unit 4 MiB + \
                 reorder window 2 MiB + read buffer) + SIP TCP connections and devices"
            ),
            bytes: bytes as u64,
        }],
    })
}
