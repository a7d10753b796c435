//! Child processes (ingest commands, transcode, exec): our side of each is its supervisor
//! entry, argv and stderr ring, its watcher task and read chunk; the children's own RSS is
//! theirs (measured, ffmpeg 5.1 on Debian 12 x86_64: 55 MB copying a stream, 64-67 MB
//! transcoding one to 160x120 with libx264).

use super::{kib, BudgetLine, Limits};
use crate::config::Config;
use crate::server::exec::{MAX_CHILDREN, STDERR_RING};

/// One child beyond its stderr ring: the supervisor entry and argv (a command is at most
/// `config::exec::MAX_COMMAND_LEN`, 4 KiB, substituted), the watcher task and its 1 KiB
/// read chunk, the runtime's child handle; rounded up.
const CHILD_BYTES: usize = 8192;

/// The "child processes" line when the config runs any: up to [`MAX_CHILDREN`] at once.
pub(super) fn line(config: &Config, _limits: &Limits) -> Option<BudgetLine> {
    let any = !config.child_ingests.is_empty()
        || config
            .vhosts()
            .any(|v| v.enabled && (v.exec.enabled || v.transcode.enabled));
    if !any {
        return None;
    }
    let per_child = STDERR_RING + CHILD_BYTES;
    Some(BudgetLine {
        what: "child processes",
        formula: format!(
            "MAX_CHILDREN {MAX_CHILDREN} x ({} stderr ring + {} state) = {} (their own RSS \
             not counted: 55-70 MB per ffmpeg)",
            kib(STDERR_RING),
            kib(CHILD_BYTES),
            kib(per_child * MAX_CHILDREN),
        ),
        bytes: (per_child * MAX_CHILDREN) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_cost_their_rings_only_when_configured() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "child processes"));
        let on = Config::from_toml_str("[[ingest]]\ncommand = \"sleep 1\"\n", "t").unwrap();
        let budget = Limits::of(&on).budget();
        let line = budget
            .lines
            .iter()
            .find(|l| l.what == "child processes")
            .unwrap();
        assert_eq!(line.bytes, 32 * (4096 + 8192));
    }
}
