//! The RTSP server's terms (`[rtsp_server]`, none when it is off): per player connection its
//! input (`session::rtsp_server::MAX_INPUT`), its state, one batch of per-packet headers and
//! (a UDP player) one batch of datagrams, which copy the payloads;
//! one read buffer for all; and the RTP packets built once per frame, shared by every RTSP
//! player (a second copy of the payloads of the frames a stream holds). A publisher
//! (ANNOUNCE + RECORD) holds one access unit being assembled per track: a video frame of up
//! to `rtmp.max_message_bytes` (the largest frame the hub takes from any publisher) and an
//! audio one of up to `MAX_AUDIO_ACCESS_UNIT`, and once B-frames are seen up to `HOLD_BYTES`
//! of video pictures waiting for their decode times; its UDP datagrams are read on the stack, and
//! over UDP each of its tracks holds a reorder window of `REORDER_WINDOW` datagrams of at
//! most `net::rtsp_server::MAX_DATAGRAM` bytes (a line of its own: publishers over UDP are
//! at most `max_streams`).

use super::{kib, BudgetLine, Limits, Term, CONNECTION_BYTES};
use crate::config::Config;
use crate::net::rtsp_server::{MAX_DATAGRAM, READ_BUFFER};
use crate::server::rtsp_server::MTU;
use crate::server::{MAX_BATCH_BYTES, MAX_BATCH_ITEMS};
use crate::session::rtsp::decode_time::HOLD_BYTES;
use crate::session::rtsp_server::record::{MAX_AUDIO_ACCESS_UNIT, REORDER_WINDOW};
use crate::session::rtsp_server::{MAX_INPUT, MAX_TRACKS, PACKET_HEADER_LEN};
use crate::wire::rtp::RtpPacket;
use crate::wire::rtp::FIXED_HEADER_LEN;
use crate::wire::sdp::MAX_SDP_LEN;

/// Per RTP packet of a batch: its 16-byte header and two `Bytes` handles in the write list
/// (32 bytes each), and its slot in the batch's list (40 bytes).
const PER_PACKET: usize = PACKET_HEADER_LEN + 2 * 32 + 40;

/// Packets in one batch at most: the batch's bytes in full packets, plus a last short packet
/// and an aggregation or fragment remainder for each frame.
pub(super) const BATCH_PACKETS: usize = MAX_BATCH_BYTES / (MTU - 2) + 2 * MAX_BATCH_ITEMS;

pub(super) fn term(config: &Config) -> Option<Term> {
    if !config.rtsp_server_enabled {
        return None;
    }
    let batch = BATCH_PACKETS * PER_PACKET;
    // A UDP player's datagrams are copies: one batch of them at worst.
    let datagrams = MAX_BATCH_BYTES + BATCH_PACKETS * (FIXED_HEADER_LEN + 48);
    let connection_bytes = CONNECTION_BYTES + MAX_INPUT + MAX_SDP_LEN + batch + datagrams;
    Some(Term {
        protocol: "RTSP server",
        connection_bytes,
        connection_parts: format!(
            "state {}, RTSP input {}, description {}, packet headers of a batch {}, a batch \
             of UDP datagrams {}; at most rtsp_server.max_sessions {} of them",
            kib(CONNECTION_BYTES),
            kib(MAX_INPUT),
            kib(MAX_SDP_LEN),
            kib(batch),
            kib(datagrams),
            config.rtsp_server_max_sessions,
        ),
        shared_bytes: READ_BUFFER,
        publisher_pending_bytes: config.rtmp_max_message_bytes + MAX_AUDIO_ACCESS_UNIT + HOLD_BYTES,
        frame_bytes: config.rtmp_max_message_bytes,
        send_buffer_bytes: 0,
        lines: vec![reorder_line(config)],
    })
}

/// Reorder windows of the publishers over UDP: one per track, each of `REORDER_WINDOW`
/// datagrams at their largest (copied out of the read buffer) with their packet's fields.
/// At most one publisher per stream.
fn reorder_line(config: &Config) -> BudgetLine {
    let window = REORDER_WINDOW * (MAX_DATAGRAM + std::mem::size_of::<RtpPacket>());
    let per_publisher = MAX_TRACKS * window;
    BudgetLine {
        what: "rtsp reorder",
        formula: format!(
            "max_streams {} x {MAX_TRACKS} tracks x reorder window {REORDER_WINDOW} \
             datagrams {} (publishers over UDP)",
            config.max_streams,
            kib(window),
        ),
        // In u64: streams x window pass 4 GiB on a 32-bit target.
        bytes: (config.max_streams as u64).saturating_mul(per_publisher as u64),
    }
}

/// The RTP packets of the frames streams hold (GOP cache and the newest queue's worth), built
/// once and shared: the payload again, plus 2 + 12 bytes per packet of at most `MTU` bytes.
pub(super) fn packets_line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    if !config.rtsp_server_enabled {
        return None;
    }
    // In u64: a big board's caps times max_streams pass 4 GiB on a 32-bit target.
    let held = limits.gop_cache_bytes as u64 + limits.queue_bytes as u64;
    let per_stream = held.saturating_add(held / MTU as u64 * 14);
    Some(BudgetLine {
        what: "rtsp packets",
        formula: format!(
            "max_streams {} x (gop_cache_max_bytes + queue_max_bytes) {} again as RTP packets",
            limits.streams,
            kib(usize::try_from(per_stream).unwrap_or(usize::MAX))
        ),
        bytes: (limits.streams as u64).saturating_mul(per_stream),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::limits::Limits;

    #[test]
    fn the_server_costs_only_when_enabled() {
        let budget = |text: &str| Limits::of(&Config::from_toml_str(text, "t").unwrap()).budget();
        let off = budget("");
        assert!(off.lines.iter().all(|l| l.what != "rtsp packets"));
        let on = budget("[rtsp_server]\nenabled = true\n");
        let line = on.lines.iter().find(|l| l.what == "rtsp packets").unwrap();
        assert!(line.bytes > 0, "{line:?}");
        let reorder = on.lines.iter().find(|l| l.what == "rtsp reorder").unwrap();
        assert!(reorder.bytes > 0, "{reorder:?}");
        assert!(off.lines.iter().all(|l| l.what != "rtsp reorder"));
        assert!(on.total > off.total);
    }
}
