//! DVR: what a recorded stream holds for a disk that is behind (`dvr.dvr_queue_bytes`, the
//! frames gathered into the next write and those the disk thread has not written yet), and
//! the recorders' shared state.

use super::{kib, BudgetLine, Limits};
use crate::config::{Config, DvrFormat};
use crate::server::dvr::disk::{MAX_REPAIRS, QUOTA_CANDIDATES, SCAN_WINDOW};
use crate::server::dvr::mp4::MAX_PENDING_BYTES;
use crate::server::dvr::recorder::MAX_RECORDINGS;

/// One entry of the recordings list (path, names, counters), rounded up.
const RECORDING_BYTES: usize = 512;
/// One quota candidate on the disk thread (its path and age), or one deleted recording in
/// the quota report, rounded up.
const CANDIDATE_BYTES: usize = 256;
/// One repaired leftover in a repair report (two paths and counts), rounded up.
const REPAIRED_BYTES: usize = 512;

/// The "dvr" line, when a vhost records: every stream may be recorded (the API starts any),
/// each holding up to the largest `dvr_queue_bytes` of the recording vhosts plus one frame (a
/// recorder with nothing queued takes a frame of any size), and when a vhost records MP4 the
/// fragment being gathered ([`MAX_PENDING_BYTES`]); plus the recordings list, the
/// disk thread's repair window and quota candidates, and a repair and a quota report on
/// their way to the event loop.
pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    let queue = config
        .vhosts()
        .filter(|v| v.enabled && v.dvr.enabled)
        .map(|v| v.dvr.queue_bytes)
        .max()?;
    let mp4 = config
        .vhosts()
        .any(|v| v.enabled && v.dvr.enabled && v.dvr.path.format == DvrFormat::Mp4);
    let fragment = if mp4 { MAX_PENDING_BYTES } else { 0 };
    let per_stream = queue
        .saturating_add(limits.message_bytes)
        .saturating_add(fragment);
    let shared = shared_bytes();
    Some(BudgetLine {
        what: "dvr",
        formula: format!(
            "max_streams {} x {} (dvr_queue_bytes {} + one frame {}{}) + {} (recordings \
             list, repair window and report, quota candidates and report)",
            limits.streams,
            kib(per_stream),
            kib(queue),
            kib(limits.message_bytes),
            if mp4 {
                format!(" + MP4 fragment {}", kib(fragment))
            } else {
                String::new()
            },
            kib(shared),
        ),
        bytes: (limits.streams as u64)
            .saturating_mul(per_stream as u64)
            .saturating_add(shared as u64),
    })
}

/// What the recorders share and the disk thread holds for them, whatever the streams.
fn shared_bytes() -> usize {
    MAX_RECORDINGS * RECORDING_BYTES
        + SCAN_WINDOW
        + MAX_REPAIRS * REPAIRED_BYTES
        + 2 * QUOTA_CANDIDATES * CANDIDATE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_costs_its_queue_and_a_frame_per_stream() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "dvr"), "off by default");
        let on = Config::from_toml_str(
            "max_streams = 4\n[rtmp]\nmax_message_bytes = 1048576\n\
             [vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_queue_bytes = 524288\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "dvr").unwrap();
        let shared = shared_bytes();
        let frame = Limits::of(&on).message_bytes;
        assert_eq!(line.bytes, (4 * (524_288 + frame) + shared) as u64);
        assert!(
            line.formula.contains("dvr_queue_bytes 512 KiB"),
            "{}",
            line.formula
        );
        assert_eq!(b.total, b.lines.iter().map(|l| l.bytes).sum::<u64>());
        let mp4 = Config::from_toml_str(
            "max_streams = 4\n[rtmp]\nmax_message_bytes = 1048576\n\
             [vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_queue_bytes = 524288\n\
             dvr_path = \"./dvr/[app]/[stream].mp4\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&mp4).budget();
        let line = b.lines.iter().find(|l| l.what == "dvr").unwrap();
        assert_eq!(
            line.bytes,
            (4 * (524_288 + frame + MAX_PENDING_BYTES) + shared) as u64,
            "an MP4 recording holds its fragment"
        );
        assert!(line.formula.contains("MP4 fragment"), "{}", line.formula);
    }
}
