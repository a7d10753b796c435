//! The WebRTC server's line (`[rtc_server]`, none when it is off): per session str0m's state,
//! its NACK history's headers and its player queue; shared by all, the datagram buffer and the
//! RTP payloads of the recent frames (`server::rtc::PACKET_CACHE_FRAMES`, at most the largest
//! frame's bytes each, plus their headers), and the datagrams of one batch waiting to be sent.

use super::{kib, BudgetLine, Limits};
use crate::config::Config;
use crate::server::rtc::{
    MAX_DATAGRAM, MAX_TRANSMITS, PACKET_CACHE_FRAMES, SEND_HISTORY_PACKETS, SESSION_BYTES,
};

pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    if !config.rtc_server_enabled {
        return None;
    }
    let sessions = config.rtc_server_max_sessions as u64;
    let per_session = (SESSION_BYTES as u64).saturating_add(limits.queue_bytes as u64);
    let cache = (PACKET_CACHE_FRAMES as u64).saturating_mul(limits.message_bytes as u64);
    let transmits = (MAX_TRANSMITS as u64).saturating_mul(1500);
    let shared = cache
        .saturating_add(transmits)
        .saturating_add(MAX_DATAGRAM as u64);
    Some(BudgetLine {
        what: "webrtc",
        formula: format!(
            "rtc_server.max_sessions {} x (session {} with a NACK history of {} packets + \
             queue_max_bytes {}) + payloads of {} frames of at most {} + {} datagrams waiting",
            sessions,
            kib(SESSION_BYTES),
            SEND_HISTORY_PACKETS,
            kib(limits.queue_bytes),
            PACKET_CACHE_FRAMES,
            kib(limits.message_bytes),
            MAX_TRANSMITS,
        ),
        bytes: sessions.saturating_mul(per_session).saturating_add(shared),
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
    }
}
