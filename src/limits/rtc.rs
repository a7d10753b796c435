//! The WebRTC server's line (`[rtc_server]`, none when it is off): per session str0m's state,
//! its NACK history's headers and its player queue; shared by all, the datagram buffer and the
//! RTP payloads of the recent frames (`server::rtc::PACKET_CACHE_FRAMES`, at most the largest
//! frame's bytes each, plus their headers), and the datagrams of one batch waiting to be sent.
//! A WHIP publisher's session holds, instead of a player queue, two reorder windows
//! (`server::rtc::publish::REORDER_WINDOW` datagrams each) and one access unit per track being
//! assembled (video up to `rtmp.max_message_bytes`, audio `publish::MAX_AUDIO_ACCESS_UNIT`);
//! each session is counted at the larger of the two. With `rtc_server.tcp.enabled`, up to
//! `max_sessions` × `server::rtc::tcp::TCP_CONNECTIONS_PER_SESSION` ICE-TCP connections, each
//! with a partial frame of input and its output buffer (`TCP_CONNECTION_BYTES`), and the
//! thread's read buffer (`net::rtc_tcp::READ_BUFFER`).

use super::{kib, BudgetLine, Limits};
use crate::config::Config;
use crate::net::rtc_tcp::READ_BUFFER;
use crate::server::rtc::publish::{MAX_AUDIO_ACCESS_UNIT, REORDER_WINDOW};
use crate::server::rtc::tcp::{TCP_CONNECTIONS_PER_SESSION, TCP_CONNECTION_BYTES};
use crate::server::rtc::{
    MAX_DATAGRAM, MAX_TRANSMITS, PACKET_CACHE_FRAMES, SEND_HISTORY_PACKETS, SESSION_BYTES,
};

/// What one WHIP publisher holds beyond str0m's state: two reorder windows of datagrams, a
/// video access unit of up to `message_bytes` and an audio one.
pub fn publisher_bytes(message_bytes: usize) -> u64 {
    (2 * REORDER_WINDOW * MAX_DATAGRAM) as u64 + message_bytes as u64 + MAX_AUDIO_ACCESS_UNIT as u64
}

pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    if !config.rtc_server_enabled {
        return None;
    }
    let sessions = config.rtc_server_max_sessions as u64;
    let publisher = publisher_bytes(limits.message_bytes);
    let per_session =
        (SESSION_BYTES as u64).saturating_add((limits.queue_bytes as u64).max(publisher));
    let cache = (PACKET_CACHE_FRAMES as u64).saturating_mul(limits.message_bytes as u64);
    let transmits = (MAX_TRANSMITS as u64).saturating_mul(1500);
    let shared = cache
        .saturating_add(transmits)
        .saturating_add(MAX_DATAGRAM as u64);
    let tcp_connections = match config.rtc_server_tcp.enabled {
        true => sessions.saturating_mul(TCP_CONNECTIONS_PER_SESSION as u64),
        false => 0,
    };
    let tcp = match tcp_connections {
        0 => 0,
        n => n
            .saturating_mul(TCP_CONNECTION_BYTES as u64)
            .saturating_add(READ_BUFFER as u64),
    };
    Some(BudgetLine {
        what: "webrtc",
        formula: format!(
            "rtc_server.max_sessions {} x (session {} with a NACK history of {} packets + \
             the larger of queue_max_bytes {} and a WHIP publisher's 2 x {} reordered \
             datagrams + frame {}) + payloads of {} frames of at most {} + {} datagrams waiting \
             + {} ICE-TCP connections x {} (rtc_server.tcp)",
            sessions,
            kib(SESSION_BYTES),
            SEND_HISTORY_PACKETS,
            kib(limits.queue_bytes),
            REORDER_WINDOW,
            kib(limits.message_bytes + MAX_AUDIO_ACCESS_UNIT),
            PACKET_CACHE_FRAMES,
            kib(limits.message_bytes),
            MAX_TRANSMITS,
            tcp_connections,
            kib(TCP_CONNECTION_BYTES),
        ),
        bytes: sessions
            .saturating_mul(per_session)
            .saturating_add(shared)
            .saturating_add(tcp),
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
        let on = budget("[rtc_server]\nenabled = true\nmax_sessions = 10\n");
        assert!(off.lines.iter().all(|l| l.what != "webrtc"));
        let line = on.lines.iter().find(|l| l.what == "webrtc").unwrap();
        assert!(line.bytes > 10 * 48 * 1024, "{line:?}");
        assert!(on.total > off.total);
        assert!(line.formula.contains("20 ICE-TCP connections"), "{line:?}");
        let udp = budget("[rtc_server]\nenabled = true\nmax_sessions = 10\nprotocol = \"udp\"\ntcp.enabled = false\n");
        let udp_line = udp.lines.iter().find(|l| l.what == "webrtc").unwrap();
        assert!(
            udp_line.bytes + 20 * 256 * 1024 < line.bytes,
            "{udp_line:?}"
        );
    }
}
