//! Forward: per published stream of a forwarding vhost, per destination, its queue
//! (`forward.queue_max_bytes`), the client session's outbox and chunk input, and the task's
//! read buffer.

use super::{kib, kib64, BudgetLine, Limits};
use crate::config::{Config, MAX_DESTINATIONS};
use crate::server::forward::CLIENT_LIMITS;
use crate::session::rtmp::client::MAX_OUTBOX;

/// One forwarder beyond its queue and outbox: its state, the task and its 4 KiB read
/// buffer, rounded up.
const FORWARDER_BYTES: usize = 8192;

/// The "forward" line, when a vhost forwards (or is an edge, whose publishes go to an
/// origin): every stream may be published on the vhost with the most destinations × its
/// queue cap; a `backend` counts as `MAX_DESTINATIONS`.
pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    let per_stream = config
        .vhosts()
        .filter(|v| v.enabled && (v.forward.enabled || v.cluster.is_edge()))
        .map(|v| {
            // A backend may answer up to MAX_DESTINATIONS; an edge forwards a publish to one
            // origin (and then ignores forward's own settings).
            let n = if v.cluster.is_edge() && cfg!(feature = "edge") {
                1
            } else if v.forward.backend.0.is_some() {
                MAX_DESTINATIONS
            } else {
                v.forward.destination.0.len()
            };
            // In u64: destinations x queue_max_bytes pass 4 GiB on a 32-bit target.
            let each = v.forward.queue_max_bytes as u64
                + MAX_OUTBOX as u64
                + CLIENT_LIMITS.max_pending_bytes as u64
                + FORWARDER_BYTES as u64;
            (n, (n as u64).saturating_mul(each))
        })
        .max_by_key(|(_, bytes)| *bytes)?;
    let (destinations, bytes) = per_stream;
    if destinations == 0 {
        return None;
    }
    Some(BudgetLine {
        what: "forward",
        formula: format!(
            "max_streams {} x {destinations} destinations x (queue_max_bytes + {} outbox + {} \
             input + {} state) = {} per stream",
            limits.streams,
            kib(MAX_OUTBOX),
            kib(CLIENT_LIMITS.max_pending_bytes),
            kib(FORWARDER_BYTES),
            kib64(bytes),
        ),
        bytes: bytes.saturating_mul(limits.streams as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_costs_its_queues_per_stream() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "forward"));
        let on = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.forward]\nenabled = true\n\
             destination = [\"127.0.0.1:1935\", \"rtmp://10.0.0.2/a/b\"]\n\
             queue_max_bytes = 1048576\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "forward").unwrap();
        let per = 1048576 + MAX_OUTBOX + CLIENT_LIMITS.max_pending_bytes + FORWARDER_BYTES;
        assert_eq!(line.bytes, (3 * 2 * per) as u64);
        assert_eq!(b.total, b.lines.iter().map(|l| l.bytes).sum::<u64>());
        let backend = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.forward]\nenabled = true\n\
             backend = \"http://127.0.0.1:8085/f\"\nqueue_max_bytes = 1048576\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&backend).budget();
        let line = b.lines.iter().find(|l| l.what == "forward").unwrap();
        assert_eq!(line.bytes, (3 * MAX_DESTINATIONS * per) as u64);
    }
}
