//! `/api/v1/processes` (ours; SRS lists its ffmpeg children nowhere): the child processes of
//! `[[ingest]]` commands, `transcode` and `exec` (`server::exec`), in SRS's envelope.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/processes` | `processes[..]` |
//!
//! Any other method is 405. Each process: `id` (`ingest[0]`, `exec:VHOST/APP/STREAM`,
//! `transcode:ENGINE:VHOST/APP/STREAM`), `kind` (`ingest`, `transcode`, `exec`), `argv`
//! (variables substituted, URL passwords as `***`), `shell`, `state` (`starting`, `running`, `backoff`, `stopping`),
//! `pid` (running or stopping, else null), `since` (epoch ms it started, running only),
//! `retry_in_ms` (in backoff, else null), `restarts` (starts after the first), `last_exit`
//! (`exit status 1`, `signal 9`, a spawn error, or null) and `stderr` (its last 4 KiB,
//! `\r` as line ends).

use serde::Serialize;

use super::{Api, Method, Reply};
use crate::server::exec::{shown, State};

#[derive(Serialize)]
struct ProcessObject {
    id: String,
    kind: &'static str,
    argv: Vec<String>,
    shell: bool,
    state: &'static str,
    pid: Option<u32>,
    since: Option<u64>,
    retry_in_ms: Option<u64>,
    restarts: u32,
    last_exit: Option<String>,
    stderr: String,
}

pub(super) fn handle(api: &Api<'_>, method: Method) -> Reply {
    #[derive(Serialize)]
    struct List {
        processes: Vec<ProcessObject>,
    }
    if method != Method::Get {
        return Reply::Http(405);
    }
    let children = &api.ctx.children;
    let sup = children.supervisor.borrow();
    let processes = sup
        .children()
        .iter()
        .map(|c| {
            let (pid, since, retry_in_ms) = match c.state {
                State::Running { pid, since_ms } => (
                    Some(pid),
                    Some(api.settings.epoch_ms.saturating_add(since_ms)),
                    None,
                ),
                State::Stopping { pid, .. } => (Some(pid), None, None),
                State::Backoff { until_ms } => {
                    (None, None, Some(until_ms.saturating_sub(api.now_ms)))
                }
                State::Starting => (None, None, None),
            };
            ProcessObject {
                id: c.spec.id.clone(),
                kind: c.spec.kind.as_str(),
                argv: c
                    .spec
                    .argv
                    .iter()
                    .map(|w| shown(std::slice::from_ref(w)))
                    .collect(),
                shell: c.spec.shell,
                state: c.state.as_str(),
                pid,
                since,
                retry_in_ms,
                restarts: c.restarts,
                last_exit: c.last_exit.clone(),
                stderr: children.stderr_of(&c.spec.id),
            }
        })
        .collect();
    api.ok(List { processes })
}
