//! Edge: per pulled stream (one per stream at most, so `max_streams` of them), the pull's read
//! buffer, the RTMP client's partly received messages (`rtmp.max_pending_bytes`, as a
//! publisher's) and its state. The stream itself is counted as any published stream.

use super::{kib, BudgetLine, Limits};
use crate::config::Config;
use crate::server::edge::READ_BUFFER;
use crate::server::rtmp::chunk_limits;

/// One pull beyond its buffers: its state, the task and the client session, rounded up.
const PULL_BYTES: usize = 8192;

/// The "edge" line, when a vhost is an edge.
pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    if !config.vhosts().any(|v| v.enabled && v.cluster.is_edge()) {
        return None;
    }
    let pending = chunk_limits(config).max_pending_bytes;
    let per_pull = READ_BUFFER + pending + PULL_BYTES;
    Some(BudgetLine {
        what: "edge",
        formula: format!(
            "max_streams {} pulls x ({} read buffer + {} rtmp.max_pending_bytes + {} state)",
            limits.streams,
            kib(READ_BUFFER),
            kib(pending),
            kib(PULL_BYTES),
        ),
        bytes: (per_pull as u64).saturating_mul(limits.streams as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_costs_a_pull_per_stream() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "edge"));
        let on = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\n\
             origin = \"127.0.0.1:1935\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "edge").unwrap();
        let per = READ_BUFFER + chunk_limits(&on).max_pending_bytes + PULL_BYTES;
        assert_eq!(line.bytes, (3 * per) as u64);
    }
}
