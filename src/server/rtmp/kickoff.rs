//! `publish.kickoff_for_idle` (SRS 5): an RTMP publisher whose stream has had no viewer for
//! that many seconds is disconnected, to save the uplink of a camera or encoder nobody
//! watches. A viewer is what makes a stream watched in the hub: a player attached to its
//! Source or a recent HLS request (`Hub::is_watched`). Checked once a second, so the kick
//! comes up to a second late. Only RTMP publishers, as SRS checks it in its RTMP publish loop;
//! an on-demand RTSP or GB28181 ingest already stops when its stream is no longer watched.

use std::collections::HashMap;

use super::super::stats::ClientKind;
use super::super::ServerCtx;
use crate::live::{ClientId, StreamKey};

/// Since when (ms) each published stream of a vhost with `kickoff_for_idle` has had no viewer.
/// At most one entry per stream (`max_streams`; RAM: about 100 bytes each, within a stream's
/// share).
pub type IdleSince = HashMap<StreamKey, u64>;

/// What to do with one publisher at `now_ms`: `idle_since` is updated; true when it has been
/// idle for `kickoff_ms` (then forgotten, so that a republish starts again).
pub fn is_idle_for(
    idle_since: &mut IdleSince,
    key: &StreamKey,
    watched: bool,
    kickoff_ms: u64,
    now_ms: u64,
) -> bool {
    if kickoff_ms == 0 || watched {
        idle_since.remove(key);
        return false;
    }
    let since = *idle_since.entry(key.clone()).or_insert(now_ms);
    if now_ms.saturating_sub(since) >= kickoff_ms {
        idle_since.remove(key);
        return true;
    }
    false
}

/// Once a second: kicks the RTMP publishers idle for their vhost's `kickoff_for_idle`.
pub fn sweep(ctx: &ServerCtx, now_ms: u64) {
    let config = ctx.config();
    let mut kicks: Vec<(StreamKey, ClientId, u32)> = Vec::new();
    {
        let hub = ctx.hub.borrow();
        let mut idle = ctx.idle_publishers.borrow_mut();
        let mut published = Vec::new();
        for source in hub.sources() {
            let s = source.borrow();
            let Some(publisher) = s.publisher() else {
                continue;
            };
            published.push(s.key.clone());
            let kickoff_s = config
                .vhost(&s.key.vhost)
                .map_or(0, |v| v.kickoff_for_idle_s);
            let watched = hub.is_watched(&s.key);
            let kickoff_ms = u64::from(kickoff_s) * 1000;
            if is_idle_for(&mut idle, &s.key, watched, kickoff_ms, now_ms) {
                kicks.push((s.key.clone(), publisher, kickoff_s));
            }
        }
        idle.retain(|k, _| published.contains(k));
    }
    for (key, id, kickoff_s) in kicks {
        let Some(record) = ctx.clients.get(id) else {
            continue;
        };
        if record.kind.get() != ClientKind::RtmpPublish {
            continue;
        }
        log::info!(
            "[{}] publish {key} kicked off: no viewer for {kickoff_s} s (publish.kickoff_for_idle)",
            record.cid
        );
        record.kick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        }
    }

    #[test]
    fn idle_from_the_first_check_without_viewers_and_reset_by_one() {
        let mut idle = IdleSince::new();
        let k = key();
        assert!(!is_idle_for(&mut idle, &k, false, 5_000, 1_000));
        assert!(!is_idle_for(&mut idle, &k, false, 5_000, 5_999));
        // A viewer came: the count starts again after it.
        assert!(!is_idle_for(&mut idle, &k, true, 5_000, 6_000));
        assert!(!is_idle_for(&mut idle, &k, false, 5_000, 7_000));
        assert!(!is_idle_for(&mut idle, &k, false, 5_000, 11_999));
        assert!(is_idle_for(&mut idle, &k, false, 5_000, 12_000));
        assert!(idle.is_empty());
        // Off: never.
        assert!(!is_idle_for(&mut idle, &k, false, 0, 0));
        assert!(!is_idle_for(&mut idle, &k, false, 0, 1_000_000));
    }
}
