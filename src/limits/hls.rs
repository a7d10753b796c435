//! HLS on disk: a closed segment stays in RAM until the disk thread has written it (for good
//! when the write was dropped or failed), under the same cap as RAM storage, and the disk
//! thread's queue (`net::disk::WRITE_JOBS` ops) holds references to one segment each, which a
//! stalled disk keeps past the window.

use super::{hls_ram, kib, BudgetLine, Limits};
use crate::config::{Config, HlsStorage};
use crate::net::disk::WRITE_JOBS;
use crate::server::hls::HlsStream;

/// The "disk HLS" line, when a vhost stores HLS on disk: `WRITE_JOBS` × the largest disk-HLS
/// segment cap, plus per stream what disk HLS holds beyond RAM HLS (counted in the streams
/// line): `hls_max_bytes` plus one frame.
pub(super) fn disk_line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    let disk = || {
        config
            .vhosts()
            .filter(|v| v.enabled && v.hls.enabled && v.hls.storage == HlsStorage::Disk)
    };
    let held = disk().map(|v| hls_ram(v, limits.message_bytes)).max()?;
    let segment_cap = disk().map(|v| HlsStream::segment_cap(&v.hls)).max()?;
    // A stream is of one vhost: disk HLS costs what RAM HLS (in the streams line) does not.
    let extra = held.saturating_sub(limits.hls_bytes);
    let queue = (WRITE_JOBS as u64).saturating_mul(segment_cap as u64);
    Some(BudgetLine {
        what: "disk HLS",
        formula: format!(
            "disk queue {WRITE_JOBS} ops x largest disk-HLS segment {} + max_streams {} x {} \
             (segments in RAM until written: hls_max_bytes + one frame, beyond RAM HLS)",
            kib(segment_cap),
            limits.streams,
            kib(extra),
        ),
        bytes: queue.saturating_add((limits.streams as u64).saturating_mul(extra as u64)),
    })
}

/// The "HLS sessions" line, when a vhost has `hls_ctx` on: every session open at once
/// (`server::hls_sessions`).
pub(super) fn sessions_line(config: &Config, _: &Limits) -> Option<BudgetLine> {
    use crate::server::hls_sessions::{MAX_HLS_SESSIONS, SESSION_BYTES};
    config
        .vhosts()
        .any(|v| v.enabled && v.hls.enabled && v.hls.ctx)
        .then(|| BudgetLine {
            what: "HLS sessions",
            formula: format!(
                "MAX_HLS_SESSIONS {MAX_HLS_SESSIONS} x {} (client record, names, hook fields)",
                kib(SESSION_BYTES)
            ),
            bytes: (MAX_HLS_SESSIONS * SESSION_BYTES) as u64,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hls_sessions_are_counted_when_a_vhost_has_hls_ctx() {
        let on = Config::from_toml_str(
            "[vhost.__defaultVhost__.hls]\nenabled = true\nhls_ctx = true\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|x| x.what == "HLS sessions").unwrap();
        assert_eq!(line.bytes, 1 << 20);
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|x| x.what != "HLS sessions"));
    }

    /// Disk HLS: segments wait in RAM for the disk under the same cap, and the disk queue can
    /// hold WRITE_JOBS segments past the window; RAM HLS has no such line.
    #[test]
    fn disk_hls_counts_segments_waiting_for_the_disk_and_the_queue() {
        let disk = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.hls]\nenabled = true\n\
             hls_storage = \"disk\"\nhls_max_bytes = 1048576\nhls_fragment = 2\nhls_window = 10\n",
            "test",
        )
        .unwrap();
        let l = Limits::of(&disk);
        let held = (1 << 20) + l.message_bytes + l.message_bytes / 8;
        let cap = (1 << 20) / (10 / 2 + 4);
        let b = l.budget();
        let line = b.lines.iter().find(|x| x.what == "disk HLS").unwrap();
        assert_eq!(line.bytes, (WRITE_JOBS * cap + 3 * held) as u64);
        assert_eq!(b.total, b.lines.iter().map(|x| x.bytes).sum::<u64>());
        let ram = Limits::of(&Config::embedded()).budget();
        assert!(ram.lines.iter().all(|x| x.what != "disk HLS"));
    }
}
